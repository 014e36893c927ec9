"""Volumes in Ceph with the unmodified openstack CLI: hot-plugged into a running guest,
written there, and read back in a second guest after detach and attach."""

from __future__ import annotations

import pytest

from tests.support.cloud import LIBVIRT_URI, Cloud, wait_for
from tests.support.guest import GuestShell

pytestmark = pytest.mark.e2e

MESSAGE = "written-by-vm-a"


def _status(cloud: Cloud, volume: str) -> str:
    return str(cloud.openstack_json("volume", "show", volume)["status"])


def _domain(cloud: Cloud, server: str) -> str:
    server_id = cloud.openstack_json("server", "show", server)["id"]
    return f"{cloud.settings.instance_prefix}{server_id}"


def _wait_ready(cloud: Cloud, server: str) -> None:
    def ready() -> bool:
        result = cloud.openstack("console", "log", "show", server)
        return "NIMBUS READY" in result.stdout

    wait_for(ready, 120, f"{server} to boot")


@pytest.mark.long
def test_data_on_a_volume_follows_it_from_one_server_to_another(cloud: Cloud) -> None:
    for name in ("vm-a", "vm-b"):
        created = cloud.openstack_json(
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "nimbus-guest",
            "--no-network",
            "--wait",
            name,
        )
        assert created["status"] == "ACTIVE"
    assert cloud.openstack_json("volume", "create", "--size", "1", "data")["size"] == 1
    wait_for(lambda: _status(cloud, "data") == "available", 60, "volume available")
    for name in ("vm-a", "vm-b"):
        _wait_ready(cloud, name)

    attached = cloud.openstack("server", "add", "volume", "vm-a", "data")
    assert attached.returncode == 0, attached.stderr
    assert _status(cloud, "data") == "in-use"
    with GuestShell(LIBVIRT_URI, _domain(cloud, "vm-a")) as guest:
        wait_for(lambda: "vdb" in guest.run("ls /sys/block"), 30, "vdb in vm-a")
        guest.run(f"echo {MESSAGE} | dd of=/dev/vdb conv=fsync 2>/dev/null")
        assert cloud.openstack("server", "remove", "volume", "vm-a", "data").returncode == 0
        wait_for(lambda: _status(cloud, "data") == "available", 60, "volume detached")
        assert "vdb" not in guest.run("ls /sys/block")

    assert cloud.openstack("server", "add", "volume", "vm-b", "data").returncode == 0
    with GuestShell(LIBVIRT_URI, _domain(cloud, "vm-b")) as guest:
        wait_for(lambda: "vdb" in guest.run("ls /sys/block"), 30, "vdb in vm-b")
        assert MESSAGE in guest.run("dd if=/dev/vdb bs=64 count=1 2>/dev/null")

    refused = cloud.openstack("volume", "delete", "data")
    assert refused.returncode != 0 and "409" in refused.stderr
    for name in ("vm-a", "vm-b"):
        assert cloud.openstack("server", "delete", "--wait", name).returncode == 0
    wait_for(lambda: _status(cloud, "data") == "available", 60, "volume freed")
    assert cloud.openstack("volume", "delete", "data").returncode == 0


def _root_source(cloud: Cloud, server: str) -> str:
    return str(cloud.hypervisor().disks(_domain(cloud, server))[0].source)


def test_servers_boot_from_volumes_made_or_given(cloud: Cloud) -> None:
    """``--boot-from-volume`` makes the root volume from the image; it outlives the server
    and then boots a second one with ``--volume``; ``--delete-on-termination`` takes it
    along."""
    created = cloud.openstack_json(
        "server", "create", "--flavor", "m1.tiny", "--image", "nimbus-guest",
        "--boot-from-volume", "1", "--no-network", "--wait", "bfv-1",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    root = cloud.openstack_json("server", "show", "bfv-1")["volumes_attached"][0]["id"]
    assert _root_source(cloud, "bfv-1") == f"volumes/volume-{root}"
    _wait_ready(cloud, "bfv-1")
    shown = cloud.openstack_json("volume", "show", root)
    assert shown["status"] == "in-use" and shown["bootable"] in (True, "true")
    assert cloud.openstack("server", "delete", "--wait", "bfv-1").returncode == 0
    wait_for(lambda: _status(cloud, root) == "available", 60, "root volume kept")

    again = cloud.openstack_json(
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--volume",
        root,
        "--no-network",
        "--wait",
        "bfv-2",
    )
    assert again["status"] == "ACTIVE"
    _wait_ready(cloud, "bfv-2")
    assert cloud.openstack("server", "delete", "--wait", "bfv-2").returncode == 0
    wait_for(lambda: _status(cloud, root) == "available", 60, "root volume kept again")
    assert cloud.openstack("volume", "delete", root).returncode == 0

    doomed = cloud.openstack_json(
        "server", "create", "--flavor", "m1.tiny", "--image", "nimbus-guest",
        "--boot-from-volume", "1", "--delete-on-termination", "--no-network",
        "--wait", "bfv-3",
    )  # fmt: skip
    doomed_root = cloud.openstack_json("server", "show", "bfv-3")["volumes_attached"][0]["id"]
    assert doomed["status"] == "ACTIVE"
    assert cloud.openstack("server", "delete", "--wait", "bfv-3").returncode == 0
    wait_for(lambda: cloud.openstack("volume", "show", doomed_root).returncode != 0, 60, "gone")
    assert f"volume-{doomed_root}" not in cloud.rbd_names("volumes")
