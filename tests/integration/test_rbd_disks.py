"""RBD disks on real QEMU and Ceph: a guest boots from a copy-on-write clone of its image
through librbd with cephx, and data it writes to a hot-plugged RBD volume is in Ceph after
the detach. Runs where the Ceph service (``launcher.services.ceph``) is part of the tree."""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from activities.hypervisor.base import CephAccess, Disk, DomainSpec
from activities.hypervisor.disk_xml import secret_uuid
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.storage.block import IMAGES, VMS, VOLUMES, RbdRef
from launcher.services.libvirtd import LibvirtdHandle
from nimbus.initramfs import READY_MARKER
from tests.support.guest import GuestShell

ceph_conf = pytest.importorskip("launcher.services.ceph_conf", reason="needs the Ceph service")
rbd_store = pytest.importorskip("activities.storage.rbd_store", reason="needs the RBD store")

pytestmark = pytest.mark.libvirt
MIB = 1 << 20


def wait_until(check: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture
def store(ceph_cluster: Any) -> Iterator[Any]:
    """The session cluster's RBD store."""
    cluster = ceph_cluster
    store = rbd_store.RbdBlockStore(str(cluster.conf), str(cluster.keyring), cluster.client)
    yield store
    store.close()


@pytest.fixture
def access(ceph_cluster: Any) -> CephAccess:
    return ceph_conf.ceph_access(ceph_cluster.conf, ceph_cluster.keyring, ceph_cluster.client)


@pytest.fixture
def hv(libvirtd: LibvirtdHandle, access: CephAccess) -> Iterator[LibvirtDriver]:
    """A driver with Ceph access; the libvirt secret it defines is removed afterwards."""
    yield LibvirtDriver(libvirtd.uri, ceph=access)
    conn = libvirt.open(libvirtd.uri)
    with contextlib.suppress(libvirt.libvirtError):
        conn.secretLookupByUUIDString(secret_uuid(access)).undefine()
    conn.close()


@pytest.fixture
def refs(store: Any) -> Iterator[Callable[[str, str], RbdRef]]:
    """Unique image names; deleted afterwards in reverse (clones before their parents)."""
    made: list[RbdRef] = []

    def make(pool: str, prefix: str) -> RbdRef:
        made.append(RbdRef(pool, f"{prefix}-nimbustest-{uuid.uuid4().hex[:8]}"))
        return made[-1]

    yield make
    for ref in reversed(made):
        store.delete(ref)


@pytest.fixture
def server(
    hv: LibvirtDriver, store: Any, refs: Callable, guest_image: Path, tmp_path: Path
) -> Iterator[str]:
    """A default guest booted from an RBD clone of the image; destroyed afterwards."""
    image = refs(IMAGES, "image")
    store.import_file(image, str(guest_image), "raw")
    store.snapshot(image.at("snap"))
    root = refs(VMS, "disk")
    store.clone(image.at("snap"), root)
    uid = str(uuid.uuid4())
    spec = DomainSpec(
        f"nimbustest-{uid}", uid, 1, 128, Disk("vda", "rbd", str(root)), str(tmp_path / "c.log")
    )
    hv.define_and_start(spec)
    yield spec.name
    hv.destroy(spec.name)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_guest_boots_from_rbd_and_writes_to_an_rbd_volume(
    hv: LibvirtDriver, store: Any, refs: Callable, server: str, access: CephAccess
):
    assert wait_until(lambda: READY_MARKER in hv.console_output(server))
    volume = refs(VOLUMES, "volume")
    store.create(volume, 8 * MIB)
    data = f"nimbus-{uuid.uuid4().hex}"
    with GuestShell(hv.uri, server) as shell:
        hv.attach_disk(server, Disk("vdb", "rbd", str(volume), serial="volume1"))
        assert wait_until(lambda: "vdb" in shell.run("ls /sys/block").split(), 20)
        shell.run(f"echo {data} | dd of=/dev/vdb conv=fsync 2>/dev/null")
        hv.detach_disk(server, "vdb")
    assert b"".join(store.read(volume)).startswith(data.encode())
    assert [d.kind for d in hv.disks(server)] == ["rbd"]
    conn = libvirt.open(hv.uri)
    try:
        assert access.key not in conn.lookupByName(server).XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
    finally:
        conn.close()
