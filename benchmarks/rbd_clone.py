"""How long a root disk takes to appear: clone an image's snapshot and open the clone.

    .venv/bin/python benchmarks/rbd_clone.py [--runs 5] [--conf C --keyring K]

Without ``--conf`` it runs on a throw-away single-node cluster of its own (created in a
temporary folder and stopped at the end). For a 64 MiB image (fully written) and a
10 GiB sparse one, it prints the median time to clone (``RbdBlockStore.clone``), to open
the clone and read its first 4 KiB (what QEMU does at boot), and to delete the clone.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rados
import rbd

from activities.storage.block import IMAGES, VMS, RbdRef
from activities.storage.rbd_store import RbdBlockStore
from launcher.services.ceph import ensure_ceph, stop_ceph

MIB = 1 << 20
SIZES = {"64 MiB (written)": 64 * MIB, "10 GiB (sparse)": 10 << 30}


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def make_parent(store: RbdBlockStore, name: str, size: int) -> RbdRef:
    """An image of ``size`` with its protected snapshot; a 64 MiB one is fully written."""
    ref = RbdRef(IMAGES, name)
    store.delete(ref)
    store.create(ref, size)
    block = os.urandom(4 * MIB)
    written = size if size <= 64 * MIB else 4 * MIB
    for offset in range(0, written, len(block)):
        store.write(ref, offset, block)
    store.snapshot(ref.at("snap"))
    return ref.at("snap")


def open_and_read(cluster: rados.Rados, ref: RbdRef) -> None:
    """Open the clone read-write, as QEMU does, and read its first 4 KiB."""
    with cluster.open_ioctx(ref.pool) as ioctx, rbd.Image(ioctx, ref.name) as image:
        image.read(0, 4096)


def measure(
    store: RbdBlockStore, cluster: rados.Rados, parent: RbdRef, runs: int
) -> dict[str, float]:
    """Median seconds for clone, open + read, delete over ``runs`` fresh clones."""
    times: dict[str, list[float]] = {"clone": [], "open+read": [], "delete": []}
    for run in range(runs):
        child = RbdRef(VMS, f"bench-{run}_disk")
        store.delete(child)
        times["clone"].append(timed(functools.partial(store.clone, parent, child)))
        times["open+read"].append(timed(functools.partial(open_and_read, cluster, child)))
        times["delete"].append(timed(functools.partial(store.delete, child)))
    return {step: statistics.median(values) for step, values in times.items()}


def report(store: RbdBlockStore, runs: int) -> None:
    cluster = rados.Rados(
        conffile=store.conf, name=f"client.{store.client}", conf={"keyring": store.keyring}
    )
    cluster.connect(timeout=30)
    try:
        _report(store, cluster, runs)
    finally:
        cluster.shutdown()


def _report(store: RbdBlockStore, cluster: rados.Rados, runs: int) -> None:
    print(f"median of {runs} runs    clone   open+read   clone+open   delete")
    for label, size in SIZES.items():
        parent = make_parent(store, f"bench-{size}", size)
        m = measure(store, cluster, parent, runs)
        total = m["clone"] + m["open+read"]
        print(
            f"{label:<18} {m['clone']:7.3f}s {m['open+read']:9.3f}s"
            f" {total:10.3f}s {m['delete']:7.3f}s"
        )
        store.delete(parent.image())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--conf")
    parser.add_argument("--keyring")
    args = parser.parse_args()
    if args.conf:
        report(RbdBlockStore(args.conf, args.keyring), args.runs)
        return
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-ceph-") as tmp:
        base = Path(tmp)
        handle = ensure_ceph(base / "ceph", base / "log", base / "run", osd_size_gib=4)
        try:
            store = RbdBlockStore(str(handle.conf), str(handle.keyring))
            report(store, args.runs)
            store.close()
        finally:
            stop_ceph(base / "run")


if __name__ == "__main__":
    main()
