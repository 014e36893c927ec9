"""The unmodified ``openstack`` CLI drives the networking API over HTTP (fake drivers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from nimbus.config import Settings
from tests.support.stack import Stack
from tests.support.temporal_server import free_port


@pytest.fixture
def settings(tmp_path: Path, temporal_address: str) -> Settings:
    host, port = temporal_address.split(":")
    return Settings(
        data_dir=tmp_path,
        temporal_host=host,
        temporal_port=int(port),
        host_name="testhost",
        api_port=free_port(),
    )


@pytest.fixture
def served(stack: Stack) -> Iterator[Stack]:
    server = make_server(
        "127.0.0.1", stack.settings.api_port, stack.client.application, threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stack
    server.shutdown()


def openstack(stack: Stack, user: str, *args: str) -> subprocess.CompletedProcess[str]:
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
    exe = Path(sys.executable).parent / "openstack"
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=120)


def cli(stack: Stack, user: str, *args: str) -> Any:
    result = openstack(stack, user, *args, "-f", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_network_subnet_router_floating_ip_and_rule_with_the_cli(served: Stack) -> None:
    s = served
    cli(s, "admin", "network", "create", "--external", "public")
    cli(
        s,
        "admin",
        "subnet",
        "create",
        "--network",
        "public",
        "--subnet-range",
        "172.24.4.0/24",
        "--no-dhcp",
        "public-subnet",
    )
    net = cli(s, "alice", "network", "create", "private")
    assert net["status"] == "ACTIVE"
    sub = cli(
        s,
        "alice",
        "subnet",
        "create",
        "--network",
        "private",
        "--subnet-range",
        "10.0.0.0/24",
        "private-subnet",
    )
    assert sub["gateway_ip"] == "10.0.0.1"
    cli(s, "alice", "router", "create", "r1")
    assert openstack(s, "alice", "router", "add", "subnet", "r1", "private-subnet").returncode == 0
    assert (
        openstack(s, "alice", "router", "set", "--external-gateway", "public", "r1").returncode == 0
    )
    router = cli(s, "alice", "router", "show", "r1")
    assert (
        router["external_gateway_info"]["network_id"]
        == cli(s, "alice", "network", "show", "public")["id"]
    )
    port = cli(s, "alice", "port", "create", "--network", "private", "p1")
    fip = cli(s, "alice", "floating", "ip", "create", "public")
    assert fip["floating_ip_address"].startswith("172.24.4.")
    done = openstack(
        s, "alice", "floating", "ip", "set", "--port", port["id"], fip["floating_ip_address"]
    )
    assert done.returncode == 0, done.stderr
    assert cli(s, "alice", "floating", "ip", "show", fip["id"])["status"] == "ACTIVE"
    rule = cli(
        s,
        "alice",
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        "default",
    )
    assert rule["port_range_min"] == 22
    names = {n["Name"] for n in cli(s, "alice", "network", "list")}
    assert names == {"public", "private"}
    assert len(cli(s, "alice", "port", "list")) >= 2
    cli(s, "alice", "subnet", "list")
    cli(s, "alice", "security", "group", "list")
    cli(s, "alice", "extension", "list", "--network")
    for args in (
        ("floating", "ip", "delete", fip["id"]),
        ("port", "delete", "p1"),
        ("router", "unset", "--external-gateway", "r1"),
        ("router", "remove", "subnet", "r1", "private-subnet"),
        ("router", "delete", "r1"),
        ("subnet", "delete", "private-subnet"),
        ("network", "delete", "private"),
    ):
        result = openstack(s, "alice", *args)
        assert result.returncode == 0, (args, result.stderr)
    assert {n["Name"] for n in cli(s, "alice", "network", "list")} == {"public"}
