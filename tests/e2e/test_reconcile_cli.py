"""The reconciler on the real host and Ceph: things made behind Nimbus's back (a domain
with the cloud's prefix, an RBD image named as a server disk, a bridge named as a
network's) are found and reported, never deleted; a volume whose image vanished is
repaired to ``error``; and once the strays are gone, their findings close."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from activities.network.base import bridge_name
from nimbus.db import Database
from nimbus.db_drift import Drift
from tests.support.cloud import LIBVIRT_URI, Cloud, wait_for

pytestmark = pytest.mark.e2e


def _reconcile(cloud: Cloud) -> tuple[int, dict[str, Any]]:
    result = cloud.nimbus("reconcile", "--json")
    assert result.returncode in (0, 4), result.stderr
    return result.returncode, json.loads(result.stdout)


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@contextmanager
def _stray_domain(cloud: Cloud, server_id: str) -> Iterator[str]:
    name = f"{cloud.settings.instance_prefix}{server_id}"
    xml = (
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )
    subprocess.run(
        ["virsh", "-c", LIBVIRT_URI, "define", "/dev/stdin"],
        input=xml,
        check=True,
        capture_output=True,
        text=True,
    )
    try:
        yield name
    finally:
        _run("virsh", "-c", LIBVIRT_URI, "undefine", name)


@contextmanager
def _pool(cloud: Cloud, pool: str) -> Iterator[Any]:
    """An I/O context on one of the cloud's Ceph pools, as an operator's tool would open."""
    import rados

    conf, keyring = cloud.settings.ceph_conf_path, cloud.settings.ceph_keyring_path
    with (
        rados.Rados(conffile=conf, conf={"keyring": keyring}) as cluster,
        cluster.open_ioctx(pool) as ioctx,
    ):
        yield ioctx


@contextmanager
def _stray_image(cloud: Cloud, pool: str, name: str) -> Iterator[None]:
    import rbd

    with _pool(cloud, pool) as ioctx:
        rbd.RBD().create(ioctx, name, 1 << 20)
        try:
            yield
        finally:
            rbd.RBD().remove(ioctx, name)


@contextmanager
def _stray_bridge(name: str) -> Iterator[None]:
    _run("ip", "link", "add", name, "type", "bridge")
    try:
        yield
    finally:
        _run("ip", "link", "del", name)


def _remove_image(cloud: Cloud, pool: str, name: str) -> None:
    import rbd

    with _pool(cloud, pool) as ioctx:
        rbd.RBD().remove(ioctx, name)


def test_strays_are_reported_and_a_vanished_volume_is_repaired(cloud: Cloud) -> None:
    volume = cloud.openstack_json("volume", "create", "--size", "1", "drifting")
    volume_id = volume["id"]
    wait_for(
        lambda: cloud.openstack_json("volume", "show", volume_id)["status"] == "available",
        60,
        "the volume to be available",
    )
    stray_server, stray_network = str(uuid.uuid4()), str(uuid.uuid4())
    bridge = bridge_name(stray_network)
    with ExitStack() as strays:
        domain = strays.enter_context(_stray_domain(cloud, stray_server))
        strays.enter_context(_stray_image(cloud, "vms", f"{stray_server}_disk"))
        strays.enter_context(_stray_bridge(bridge))
        _remove_image(cloud, "volumes", f"volume-{volume_id}")

        code, report = _reconcile(cloud)
        assert code == 4, report
        found = "\n".join(report["found"])
        assert f"orphan_domain {stray_server} on " in found, found
        assert f"orphan_disk vms/{stray_server}_disk" in found, found
        assert f"orphan_bridge {bridge} on " in found, found
        assert [r for r in report["repaired"] if volume_id in r] == [
            f"missing_volume {volume_id}: its image volumes/volume-{volume_id} is gone from Ceph"
        ], report["repaired"]
        assert cloud.openstack_json("volume", "show", volume_id)["status"] == "error"
        # Reported, never removed: each stray is still there.
        assert domain in cloud.domains()
        assert f"{stray_server}_disk" in cloud.rbd_names("vms")
        # A second pass finds nothing new: the same findings stay open.
        code, again = _reconcile(cloud)
        assert code == 4 and stray_server not in "\n".join(again["found"]), again
        assert again["open"]["orphan_domain"] >= 1 and again["open"]["orphan_bridge"] >= 1

    # The strays are gone: the next pass closes their findings (other tests' findings in
    # the shared cloud may stay open).
    _, after = _reconcile(cloud)
    assert after["resolved"] >= 3, after
    subjects = (stray_server, f"vms/{stray_server}_disk", bridge)
    with Database(cloud.settings.db_url).session() as s:
        still = s.scalars(
            select(Drift.subject).where(Drift.subject.in_(subjects), Drift.resolved_at.is_(None))
        ).all()
    assert still == [], still
    assert cloud.openstack("volume", "delete", volume_id).returncode == 0
    wait_for(
        lambda: cloud.openstack("volume", "show", volume_id).returncode != 0, 60, "volume gone"
    )
