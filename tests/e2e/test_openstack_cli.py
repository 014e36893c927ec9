"""The must-show path, driven by the unmodified ``openstack`` CLI against ``nimbus up``."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e


def test_server_lifecycle_with_the_openstack_cli(cloud: Cloud) -> None:
    created = cloud.openstack_json(
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "nimbus-guest",
        "--no-network",
        "--wait",
        "vm1",
    )
    assert created["status"] == "ACTIVE"
    server_id = created["id"]
    assert f"{cloud.settings.instance_prefix}{server_id}" in cloud.domains()
    assert server_id in cloud.disks()

    def console() -> bool:
        result = cloud.openstack("console", "log", "show", "vm1")
        return result.returncode == 0 and "NIMBUS READY" in result.stdout

    wait_for(console, 120, "NIMBUS READY on the console")
    listed = cloud.openstack_json("server", "list")
    assert [(s["Name"], s["Status"]) for s in listed] == [("vm1", "ACTIVE")]

    def status() -> str:
        return str(cloud.openstack_json("server", "show", "vm1")["status"])

    assert cloud.openstack("server", "stop", "vm1").returncode == 0
    wait_for(lambda: status() == "SHUTOFF", 60, "SHUTOFF")
    _attach_while_stopped(cloud, "vm1")
    assert cloud.openstack("server", "start", "vm1").returncode == 0
    wait_for(lambda: status() == "ACTIVE", 60, "ACTIVE again")
    domain = f"{cloud.settings.instance_prefix}{server_id}"
    assert [d.target for d in cloud.hypervisor().disks(domain)][:2] == ["vda", "vdb"]
    _reboot_and_lock(cloud, "vm1")
    _properties(cloud, "vm1")
    _rebuild(cloud, "vm1", server_id)
    _resize(cloud, "vm1")
    # The rebuild and the resizes defined the domain again: the volume is still in it.
    assert [d.target for d in cloud.hypervisor().disks(domain)][:2] == ["vda", "vdb"]
    _events_listed(cloud, "vm1")
    assert cloud.openstack("server", "remove", "volume", "vm1", "cold").returncode == 0
    wait_for(lambda: _volume_status(cloud, "cold") == "available", 180, "cold detached")
    assert cloud.openstack("volume", "delete", "cold").returncode == 0

    deleted = cloud.openstack("server", "delete", "--wait", "vm1")
    assert deleted.returncode == 0, deleted.stderr
    assert f"{cloud.settings.instance_prefix}{server_id}" not in cloud.domains()
    assert server_id not in cloud.disks()
    assert cloud.openstack("server", "show", "vm1").returncode != 0


def _events_listed(cloud: Cloud, server: str) -> None:
    """``server event list`` names every action taken, each with its result."""
    listed = cloud.openstack_json("server", "event", "list", "--long", server)
    actions = [e["Action"] for e in listed]
    for action in ("create", "stop", "start", "reboot", "pause", "unpause", "suspend", "resume",
                   "lock", "unlock", "attach_volume", "rebuild", "resize", "revertResize",
                   "confirmResize"):  # fmt: skip
        assert action in actions, (action, actions)
    assert {e["Message"] for e in listed} == {None}  # none failed
    shown = cloud.openstack_json("server", "event", "show", server, listed[-1]["Request ID"])
    assert shown["action"] == "create"
    assert {e["result"] for e in shown["events"]} == {"Success"}


def _show_status(cloud: Cloud, server: str) -> str:
    return str(cloud.openstack_json("server", "show", server)["status"])


def _reboot_and_lock(cloud: Cloud, server: str) -> None:
    """HARD and SOFT reboots end ACTIVE (the guest has no ACPI handler: SOFT falls back to
    HARD after the cloud's bound); pause, unpause, suspend (a managed save) and resume;
    lock and unlock show (the refusals a lock makes for
    non-admins are API tests: this CLI is the cloud's admin, whom a lock does not stop)."""
    for args in (("--hard",), ()):
        rebooted = cloud.openstack("server", "reboot", *args, "--wait", server)
        assert rebooted.returncode == 0, rebooted.stderr
        assert cloud.openstack_json("server", "show", server)["status"] == "ACTIVE"
    for verb, status in (("pause", "PAUSED"), ("unpause", "ACTIVE"), ("suspend", "SUSPENDED"),
                         ("resume", "ACTIVE")):  # fmt: skip
        assert cloud.openstack("server", verb, server).returncode == 0, verb
        wait_for(lambda s=status: _show_status(cloud, server) == s, 90, f"{verb} -> {status}")
    assert cloud.openstack("server", "lock", server).returncode == 0
    assert cloud.openstack_json("server", "show", server)["locked"] is True
    assert cloud.openstack("server", "unlock", server).returncode == 0
    assert cloud.openstack_json("server", "show", server)["locked"] is False


def _properties(cloud: Cloud, server: str) -> None:
    """``server set/unset --property`` go through the server's metadata subresource."""
    added = cloud.openstack(
        "server", "set", "--property", "role=web", "--property", "tier=1", server
    )
    assert added.returncode == 0, added.stderr
    assert cloud.openstack_json("server", "show", server)["properties"] == {
        "role": "web",
        "tier": "1",
    }
    assert cloud.openstack("server", "unset", "--property", "tier", server).returncode == 0
    assert cloud.openstack_json("server", "show", server)["properties"] == {"role": "web"}


def _rebuild(cloud: Cloud, server: str, server_id: str) -> None:
    """A rebuild boots the same server (id, volume attached) afresh from its image."""
    rebuilt = cloud.openstack("server", "rebuild", "--image", "nimbus-guest", "--wait", server)
    assert rebuilt.returncode == 0, rebuilt.stderr
    shown = cloud.openstack_json("server", "show", server)
    assert (shown["id"], shown["status"]) == (server_id, "ACTIVE")

    def booted() -> bool:
        result = cloud.openstack("console", "log", "show", server)
        return result.returncode == 0 and "NIMBUS READY" in result.stdout

    wait_for(booted, 120, "NIMBUS READY after the rebuild")


def _resize(cloud: Cloud, server: str) -> None:
    """Resize to m1.small and revert, then resize again and confirm."""

    def show() -> dict[str, Any]:
        return dict(cloud.openstack_json("server", "show", server))

    resized = cloud.openstack("server", "resize", "--flavor", "m1.small", "--wait", server)
    assert resized.returncode == 0, resized.stderr
    assert show()["status"] == "VERIFY_RESIZE"
    assert cloud.openstack("server", "resize", "revert", server).returncode == 0
    wait_for(lambda: show()["status"] == "ACTIVE", 120, "the resize reverted")
    assert "m1.tiny" in str(show()["flavor"])
    resized = cloud.openstack("server", "resize", "--flavor", "m1.small", "--wait", server)
    assert resized.returncode == 0, resized.stderr
    assert cloud.openstack("server", "resize", "confirm", server).returncode == 0
    wait_for(lambda: show()["status"] == "ACTIVE", 120, "the resize confirmed")
    assert "m1.small" in str(show()["flavor"])


def _volume_status(cloud: Cloud, name: str) -> str:
    return str(cloud.openstack_json("volume", "show", name)["status"])


def _attach_while_stopped(cloud: Cloud, server: str) -> None:
    """Nova attaches a volume to a stopped server too; it is seen at the next start."""
    assert cloud.openstack("volume", "create", "--size", "1", "cold").returncode == 0
    wait_for(lambda: _volume_status(cloud, "cold") == "available", 60, "cold available")
    added = cloud.openstack("server", "add", "volume", server, "cold")
    assert added.returncode == 0, added.stderr
    assert _volume_status(cloud, "cold") == "in-use"
    assert cloud.openstack_json("server", "show", server)["status"] == "SHUTOFF"


def test_one_request_makes_several_servers(cloud: Cloud) -> None:
    made = cloud.openstack(
        "server", "create", "--flavor", "m1.tiny", "--image", "nimbus-guest",
        "--no-network", "--min", "2", "--max", "2", "twin",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr

    def twins() -> dict[str, str]:
        listed = cloud.openstack_json("server", "list", "--name", "^twin-")
        return {s["Name"]: s["Status"] for s in listed}

    wait_for(lambda: twins() == {"twin-1": "ACTIVE", "twin-2": "ACTIVE"}, 180, "two ACTIVE twins")
    deleted = cloud.openstack("server", "delete", "--wait", "twin-1", "twin-2")
    assert deleted.returncode == 0, deleted.stderr


def test_flavor_and_image_lists(cloud: Cloud) -> None:
    flavors = {f["Name"] for f in cloud.openstack_json("flavor", "list")}
    assert {"m1.tiny", "m1.small"} <= flavors
    images = cloud.openstack_json("image", "list")
    assert ("nimbus-guest", "active") in [(i["Name"], i["Status"]) for i in images]


def test_unknown_flavor_is_refused_by_the_cli(cloud: Cloud) -> None:
    result = cloud.openstack(
        "server", "create", "--flavor", "m9.huge", "--image", "nimbus-guest", "vm-bad"
    )
    assert result.returncode != 0 and "m9.huge" in result.stderr
    assert cloud.openstack_json("server", "list") == []


def test_up_again_is_safe_and_status_shows_services(cloud: Cloud) -> None:
    again = cloud.nimbus("up")
    assert again.returncode == 0, again.stderr
    status = cloud.nimbus("status")
    assert status.returncode == 0
    lines = {line.split()[0]: line for line in status.stdout.splitlines()}
    for name in ("ceph", "temporal", "metadata", "worker", "api", "rgw"):
        assert "running (pid" in lines[name], status.stdout
    assert "HEALTH_OK" in lines["ceph"]


def test_metrics_on_api_and_worker(cloud: Cloud) -> None:
    api = requests.get(f"{cloud.url}/metrics", timeout=5, verify=cloud.verify).text
    assert "nimbus_api_requests_total" in api
    port = cloud.settings.worker_metrics_port
    worker = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "nimbus_activities_started_total" in worker
