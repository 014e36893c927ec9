"""A key pair made with the openstack CLI logs in over SSH: a server on a tenant network
behind a router, reached at its floating IP once a security group opens tcp/22. Inside,
the guest asks the metadata service at 169.254.169.254 who it is.

The floating IP is on the test cloud's own host-only external network (its route is
checked to go through that bridge before any packet is sent)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from activities.network.base import bridge_name
from launcher.netbootstrap import PUBLIC_NETWORK
from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e

METADATA = "http://169.254.169.254"
META_DATA_JSON = f"{METADATA}/openstack/latest/meta_data.json"


def _ok(cloud: Cloud, *args: str) -> None:
    result = cloud.openstack(*args)
    assert result.returncode == 0, f"{args}: {result.stderr}"


def _ssh(key: Path, address: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5", f"root@{address}", command,
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _route_dev(address: str) -> str:
    out = subprocess.run(
        ["ip", "-j", "route", "get", address], capture_output=True, text=True, check=True
    ).stdout
    return str(json.loads(out)[0]["dev"])


def test_a_new_key_pair_logs_in_to_a_server_over_ssh(cloud: Cloud, tmp_path: Path) -> None:
    made = cloud.openstack("keypair", "create", "ssh-key")
    assert made.returncode == 0 and "PRIVATE KEY" in made.stdout, made.stderr
    key = tmp_path / "ssh-key.pem"
    key.write_text(made.stdout)
    key.chmod(0o600)
    public = cloud.openstack_json("network", "show", PUBLIC_NETWORK)
    _ok(cloud, "network", "create", "ssh-net")
    _ok(cloud, "subnet", "create", "--network", "ssh-net", "--subnet-range", "10.66.0.0/24",
        "ssh-sub")  # fmt: skip
    _ok(cloud, "router", "create", "ssh-r")
    _ok(cloud, "router", "set", "--external-gateway", public["id"], "ssh-r")
    _ok(cloud, "router", "add", "subnet", "ssh-r", "ssh-sub")
    _ok(cloud, "security", "group", "create", "ssh-in")
    _ok(cloud, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
        "ssh-in")  # fmt: skip
    server = cloud.openstack_json(
        "server", "create", "--flavor", "m1.tiny", "--image", "nimbus-guest",
        "--network", "ssh-net", "--key-name", "ssh-key", "--security-group", "ssh-in",
        "--wait", "ssh-vm",
    )  # fmt: skip
    assert server["key_name"] == "ssh-key"
    fip = cloud.openstack_json("floating", "ip", "create", public["id"])["floating_ip_address"]
    try:
        _ok(cloud, "server", "add", "floating", "ip", "ssh-vm", fip)
        assert _route_dev(fip) == bridge_name(public["id"])  # never the uplink

        def logged_in() -> str:
            result = _ssh(key, fip, f"hostname; wget -qO- {META_DATA_JSON}")
            return result.stdout if result.returncode == 0 else ""

        try:
            out = wait_for(logged_in, 180, "an SSH login with the new key", interval=2)
        except AssertionError:
            console = cloud.openstack("console", "log", "show", "ssh-vm").stdout
            last = _ssh(key, fip, "true")
            raise AssertionError(f"console:\n{console}\nssh: {last.stderr}") from None
        assert out.splitlines()[0] == "ssh-vm"
        meta = json.loads(out.splitlines()[1])  # from the metadata service, not the drive
        assert meta["uuid"] == server["id"] and list(meta["public_keys"]) == ["ssh-key"]
        ec2 = _ssh(key, fip, f"wget -qO- {METADATA}/latest/meta-data/public-keys/0/openssh-key")
        assert ec2.stdout.strip() == meta["public_keys"]["ssh-key"].strip()
        other = tmp_path / "other.pem"
        other.write_text(cloud.openstack("keypair", "create", "other-key").stdout)
        other.chmod(0o600)
        assert _ssh(other, fip, "true").returncode != 0  # only the server's own key
    finally:
        for args in (
            ("server", "delete", "--wait", "ssh-vm"),
            ("floating", "ip", "delete", fip),
            ("router", "remove", "subnet", "ssh-r", "ssh-sub"),
            ("router", "delete", "ssh-r"),
            ("network", "delete", "ssh-net"),
            ("security", "group", "delete", "ssh-in"),
            ("keypair", "delete", "ssh-key"),
            ("keypair", "delete", "other-key"),
        ):
            cloud.openstack(*args)
