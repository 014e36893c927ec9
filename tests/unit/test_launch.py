"""The launch script carries user input safely and says when the app starts and ends."""

from __future__ import annotations

import subprocess

import pytest

from nimbus.errors import InvalidSpec
from paas.launch import (
    APP_EXITED,
    APP_STARTED,
    VENDOR_DATA_URL,
    LaunchSpec,
    env_words,
    environment,
    launch_script,
    parse_exit,
)

HOSTILE = {
    "QUOTE": 'it\'s "quoted"',
    "DOLLAR": "$HOME ${PATH} $(touch /tmp/nimbus-pwned)",
    "BACKTICK": "`touch /tmp/nimbus-pwned`",
    "NEWLINE": "one\ntwo'\n; touch /tmp/nimbus-pwned",
    "BACKSLASH": "a\\b\\'",
    "EMPTY": "",
}


def spec(**change: object) -> LaunchSpec:
    fields: dict = {"app_name": "web", "index": 2, "command": "python3 app.py", "runtime": "python"}
    return LaunchSpec(**{**fields, **change})


def shell_env(env: dict[str, str]) -> dict[str, str]:
    """What a real shell hands a program given ``env_words(env)``."""
    out = subprocess.run(
        ["sh", "-c", f"env -i {env_words(env)} /usr/bin/env -0"], capture_output=True, check=True
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if item)


def test_hostile_values_reach_the_app_verbatim():
    assert shell_env(HOSTILE) == HOSTILE


def test_the_script_stays_valid_shell_with_hostile_values():
    script = launch_script(spec(env=HOSTILE, command="echo \"$PORT\" 'x'"))
    assert subprocess.run(["sh", "-n"], input=script.encode()).returncode == 0


@pytest.mark.parametrize("name", ["1A", "A-B", "A B", "", "A;B", "$(x)", "É"])
def test_names_that_are_not_shell_identifiers_are_invalid(name: str):
    with pytest.raises(InvalidSpec):
        launch_script(spec(env={name: "v"}))


@pytest.mark.parametrize(
    "change",
    [{"runtime": "ruby"}, {"command": "  "}, {"index": -1}, {"port": 0}, {"port": 65536}],
)
def test_bad_specs_are_invalid(change: dict):
    with pytest.raises(InvalidSpec):
        launch_script(spec(**change))


def test_platform_variables_win_over_the_release_env():
    env = environment(spec(port=9000, env={"PORT": "1", "HOME": "/", "MINE": "x"}))
    assert (env["PORT"], env["HOME"], env["MINE"]) == ("9000", "/app", "x")
    assert env["INSTANCE_INDEX"] == env["CF_INSTANCE_INDEX"] == "2"


def test_python_apps_are_chrooted_and_static_ones_get_no_python_variables():
    assert "chroot /rt " in launch_script(spec())
    assert environment(spec())["PYTHONPATH"] == "/app/.deps"
    static = spec(runtime="static", command="httpd -f -v -p $PORT -h /app/public")
    assert "chroot" not in launch_script(static)
    assert "PYTHONPATH" not in environment(static)


def test_script_announces_start_and_exit_on_the_app_port_then_powers_off():
    script = launch_script(spec())
    assert script.startswith("#!/bin/sh\n")
    assert f'echo "{APP_STARTED} 2" >&3' in script
    assert f'echo "{APP_EXITED} $status" >&3' in script
    assert "exec 3>/dev/ttyS1" in script and script.rstrip().endswith("poweroff -f")


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (f"{APP_EXITED} 3", 3),
        (f"{APP_EXITED} 0\r\n", 0),
        (f"[    6.1] {APP_EXITED} 137", 137),
        (f"{APP_STARTED} 0", None),
        ("the app printed NIMBUS APP EXITED", None),
    ],
)
def test_parse_exit_reads_the_status(line: str, status: int | None):
    assert parse_exit(line) == status


def test_a_python_app_gets_vcap_services_from_the_metadata_service_without_printing_it():
    script = launch_script(LaunchSpec("web", 0, "python3 app.py", "python"))
    assert VENDOR_DATA_URL in script
    assert 'VCAP_SERVICES="$services" chroot /rt' in script
    fetched, ran = script.index(VENDOR_DATA_URL), script.index(APP_STARTED)
    assert fetched < ran  # known before the app starts
    assert "/tmp/" not in script  # nothing written to disk
    assert 'echo "$services' not in script and "set -x" not in script


def test_a_static_site_asks_for_no_services():
    script = launch_script(LaunchSpec("site", 0, "httpd -f -p $PORT", "static"))
    assert VENDOR_DATA_URL not in script and "VCAP_SERVICES" not in script
