"""The unmodified ``openstack`` CLI against the in-process API (fake drivers) over HTTP.

A test module takes ``settings`` and ``served`` from here (``from tests.support.cli_local
import cli, ok, openstack, served, settings``) and runs commands as the seeded users.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from nimbus.config import Settings
from tests.support import oscli
from tests.support.stack import Stack
from tests.support.temporal_server import free_port


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, with the API on a free port the CLI can reach."""
    return dataclasses.replace(settings, api_port=free_port())


@pytest.fixture
def served(stack: Stack) -> Iterator[Stack]:
    server = make_server(
        "127.0.0.1", stack.settings.api_port, stack.client.application, threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stack
    server.shutdown()


def openstack(stack: Stack, user: str, command: str) -> subprocess.CompletedProcess[str]:
    """``openstack <command>`` (split on spaces) as a seeded user."""
    project = {"admin": "admin", "alice": "demo"}[user]
    env = {
        **os.environ,
        "OS_AUTH_URL": stack.settings.public_url + "/identity/v3",
        "OS_USERNAME": user,
        "OS_PASSWORD": f"{user}-secret",
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": stack.settings.region,
    }
    return oscli.run(command.split(), env, 120)


def cli(stack: Stack, user: str, command: str) -> Any:
    """The command's JSON output; the command must succeed."""
    result = openstack(stack, user, command + " -f json")
    assert result.returncode == 0, (command, result.stderr)
    return json.loads(result.stdout) if result.stdout.strip() else None


def ok(stack: Stack, user: str, command: str) -> None:
    result = openstack(stack, user, command)
    assert result.returncode == 0, (command, result.stderr)
