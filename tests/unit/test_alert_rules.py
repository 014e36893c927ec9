"""The shipped alert rules: ``promtool check rules`` accepts them, ``promtool test rules``
passes, and every alert has a test in ``nimbus_test.yml``."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from nimbus.config import CHECKOUT

RULES = CHECKOUT / "observability" / "rules"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("needs promtool (Debian's prometheus package): run `make test`")
    return subprocess.run([exe, *args], cwd=RULES, capture_output=True, text=True, timeout=60)


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", "nimbus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_tests_pass() -> None:
    result = promtool("test", "rules", "nimbus_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_test() -> None:
    rules = yaml.safe_load((RULES / "nimbus.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((RULES / "nimbus_test.yml").read_text())["tests"]
    tested = {t["alertname"] for case in tests for t in case.get("alert_rule_test", [])}
    assert alerts - tested == set()
    assert tested - alerts == set()
