"""The tests' way of running the ``openstack`` CLI (``tests.support.oscli``) runs what its
console script runs, with the call's own arguments and environment."""

from __future__ import annotations

import os
from importlib.metadata import entry_points

import pytest

from tests.support import oscli


def test_the_console_script_is_the_shells_main() -> None:
    (script,) = entry_points(group="console_scripts", name="openstack")
    assert script.value == "openstackclient.shell:main"


def _env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "OS_AUTH_URL": f"http://127.0.0.1:{port}/identity/v3",
        "OS_USERNAME": "someone",
        "OS_PASSWORD": "secret",
        "OS_PROJECT_NAME": "p",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
    }


@pytest.mark.parametrize("args", [["--version"], ["flavor", "list"], ["no-such", "command"]])
def test_a_forked_call_answers_as_the_console_script(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same exit status, same output, same last line of errors, for a command that works
    without a cloud, one that fails to reach the cloud its environment names (a closed
    port), and one the CLI does not know."""
    forked = oscli.run(args, _env(9), 60)
    monkeypatch.setenv("NIMBUS_CLI_EXEC", "1")
    executed = oscli.run(args, _env(9), 60)
    assert forked.returncode == executed.returncode
    assert forked.stdout == executed.stdout
    assert forked.stderr.strip().splitlines()[-1:] == executed.stderr.strip().splitlines()[-1:]


def test_each_call_has_its_own_environment() -> None:
    first = oscli.run(["flavor", "list"], _env(9), 60)
    second = oscli.run(["flavor", "list"], _env(7), 60)
    assert first.returncode == second.returncode == 1
    assert "port=9" in first.stderr and "port=7" in second.stderr
