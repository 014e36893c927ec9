"""A clone SIGKILLed at any moment, on the real Ceph: what it leaves (nothing, a name in
the pool's directory with no header yet, a header with no parent yet, or the whole
clone) never stops the retry from cloning, nor a delete from removing every trace.

This is the root disk step of a boot whose worker dies in it: the worker's retry runs
``clone`` again, and a boot that fails deletes the disk (``delete``); a name left listed
by ``rbd ls`` would be an orphan for good.

A killed client's watch on the image keeps it busy until the OSD expires the watch
(``osd_client_watch_timeout``, 30 s) or the client is fenced. These tests fence the dead
client as an operator would (``ceph osd blocklist add``), so ``delete`` meets no lingering
watch; the long campaign (``NIMBUS_LONG=1``) also waits, unfenced, for the watch to
expire, with ``delete`` answering ``BackendUnavailable`` until then.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activities.storage.block import IMAGES, VMS, RbdRef
from nimbus.errors import BackendUnavailable

pytestmark = pytest.mark.ceph

MIB = 1 << 20

#: Seconds after the child says it is connected before it is killed: before, inside and
#: after the few round trips a clone makes.
DELAYS = [0.0, 0.001, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.025, 0.04, 0.07, 0.12]

CLONER = """
import sys, rados, rbd
conf, keyring, client, pool, parent, snap, child_pool, child = sys.argv[1:]
cluster = rados.Rados(conffile=conf, conf={"keyring": keyring}, rados_id=client)
cluster.connect()
src, dst = cluster.open_ioctx(pool), cluster.open_ioctx(child_pool)
print("ready", cluster.get_addrs(), flush=True)
rbd.RBD().clone(src, parent, snap, dst, child, features=1)
print("done", flush=True)
"""


@pytest.fixture
def store(ceph_cluster: Any) -> Iterator[Any]:
    from activities.storage.rbd_store import RbdBlockStore

    conf, keyring = str(ceph_cluster.conf), str(ceph_cluster.keyring)
    rbd_store = RbdBlockStore(conf, keyring, ceph_cluster.client)
    yield rbd_store
    rbd_store.close()


@pytest.fixture
def parent(store: Any, tmp_path: Path) -> Iterator[RbdRef]:
    ref = RbdRef(IMAGES, f"kp-{uuid.uuid4().hex[:10]}")
    disk = tmp_path / "disk.raw"
    with disk.open("wb") as file:
        file.truncate(4 * MIB)
        file.write(b"parent data")
    store.import_file(ref, str(disk), "raw")
    store.snapshot(ref.at("snap"))
    yield ref.at("snap")
    for child in store.children(ref.at("snap")):
        _delete(store, child)
    store.delete(ref)


def _killed_clone(
    ceph: Any, parent: RbdRef, child: RbdRef, delay: float, fence: bool = True
) -> str:
    """Start a clone in a process of its own, SIGKILL it ``delay`` s after it connected,
    and (``fence``) blocklist its address; return what it printed last."""
    args = [str(ceph.conf), str(ceph.keyring), ceph.client, parent.pool, parent.name]
    args += [str(parent.snap), child.pool, child.name]
    proc = subprocess.Popen(
        [sys.executable, "-c", CLONER, *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    said, address = proc.stdout.readline().split()
    assert said == "ready"
    time.sleep(delay)
    proc.kill()
    out = proc.stdout.read()
    proc.wait(10)
    if fence:
        _blocklist(ceph, address)
    return "done" if "done" in out else "killed"


def _blocklist(ceph: Any, address: str) -> None:
    """Fence a dead client: the OSDs drop its watches and refuse it from now on."""
    from launcher.services.ceph import admin_client

    with admin_client(ceph.conf, ceph.keyring, 30, client=ceph.client) as cluster:
        cluster.blocklist_add(address, 600)


def _delete(store: Any, ref: RbdRef, wait: float = 20) -> None:
    """``delete``, retried while a killed client's watch keeps the image busy."""
    _retried(lambda: store.delete(ref), f"{ref} stayed busy", wait)


def _retried(call: Any, what: str, wait: float = 20) -> None:
    """``call``, retried on ``BackendUnavailable`` as the activity's retry policy does:
    a fenced client's watch lasts until the OSDs have the map that fences it (the
    blocklist's commit does not wait for them), an unfenced one until it expires."""
    deadline = time.monotonic() + wait
    while True:
        try:
            call()
            return
        except BackendUnavailable:
            assert time.monotonic() < deadline, what
            time.sleep(0.5)


@pytest.mark.parametrize("delay", DELAYS)
def test_a_killed_clone_is_cloned_again_and_then_deleted_without_a_trace(
    store: Any, ceph_cluster: Any, parent: RbdRef, delay: float
) -> None:
    child = RbdRef(VMS, f"kc-{uuid.uuid4().hex[:10]}")
    _killed_clone(ceph_cluster, parent, child, delay)
    # The clone's retry removes a half-made child first, which meets the same watch.
    _retried(lambda: store.clone(parent, child, 8 * MIB), f"{child} stayed busy")
    assert store.parent(child) == parent
    assert b"".join(store.read(child)).startswith(b"parent data")
    _delete(store, child)
    assert child.name not in store.names(VMS)


@pytest.mark.parametrize("delay", DELAYS)
def test_what_a_killed_clone_left_is_deleted_without_a_trace(
    store: Any, ceph_cluster: Any, parent: RbdRef, delay: float
) -> None:
    child = RbdRef(VMS, f"kd-{uuid.uuid4().hex[:10]}")
    _killed_clone(ceph_cluster, parent, child, delay)
    _delete(store, child)
    assert child.name not in store.names(VMS)


@pytest.mark.long
@pytest.mark.parametrize("delay", [0.012, 0.04, 0.12])
def test_an_unfenced_killed_clone_is_deleted_once_its_watch_expires(
    store: Any, ceph_cluster: Any, parent: RbdRef, delay: float
) -> None:
    child = RbdRef(VMS, f"kw-{uuid.uuid4().hex[:10]}")
    _killed_clone(ceph_cluster, parent, child, delay, fence=False)
    _delete(store, child, wait=180)
    assert child.name not in store.names(VMS)
