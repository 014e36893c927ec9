"""The Nimbus-owned Ceph cluster: create, ensure again, stop, start, health.

These tests run in file order on a cluster of their own (not the session's), because
they stop and restart it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.storage.block import VOLUMES, RbdRef
from activities.storage.rbd_store import RbdBlockStore
from launcher.services.ceph import (
    CephHandle,
    ceph_health,
    ensure_ceph,
    health_report,
    running_daemons,
    stop_ceph,
)
from launcher.services.ceph_conf import read_key
from nimbus.errors import BackendUnavailable
from nimbus.private import is_private

pytestmark = pytest.mark.ceph

ALL = ("mon", "mgr", "osd")
VOLUME = RbdRef(VOLUMES, "survivor")


def dirs(base: Path) -> tuple[Path, Path, Path]:
    return base / "ceph", base / "log", base / "run"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("ceph-mon") is None or os.geteuid() != 0:
        pytest.fail("needs root and ceph-mon/ceph-osd/ceph-mgr: run `make test` as root")
    path = tmp_path_factory.mktemp("ceph-service")
    yield path
    stop_ceph(path / "run")


@pytest.fixture(scope="module")
def first(base: Path) -> CephHandle:
    return ensure_ceph(*dirs(base), osd_size_gib=4)


def store(handle: CephHandle, timeout: float = 30) -> RbdBlockStore:
    return RbdBlockStore(str(handle.conf), str(handle.keyring), handle.client, timeout)


def ceph_processes(conf: Path) -> list[int]:
    """PIDs of live processes whose command line names this cluster's conf."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and str(conf).encode() in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def test_first_ensure_creates_the_cluster_and_starts_every_daemon(base: Path, first: CephHandle):
    assert first.created and first.started == ALL
    assert sorted(running_daemons(base / "run")) == sorted(ALL)


def test_monitor_listens_on_loopback_on_a_port_of_its_own(first: CephHandle):
    host, port = first.monitors[0].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) not in (3300, 6789)


def test_ensure_twice_starts_nothing(base: Path, first: CephHandle):
    again = ensure_ceph(*dirs(base), osd_size_gib=4)
    assert again.started == () and not again.created and again.monitors == first.monitors


def test_health_is_ok(first: CephHandle):
    # Checks Ceph would raise on one node are configured away in the conf: pool size 1
    # (mon_warn_on_pool_no_redundancy), insecure global_id reclaim, modules with missing
    # dependencies (only iostat is enabled). Right after a start the mgr may take a few
    # seconds to report in (MGR_DOWN), so wait that out.
    deadline = time.monotonic() + 20
    while ceph_health(first.conf, first.keyring) != "HEALTH_OK" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ceph_health(first.conf, first.keyring) == "HEALTH_OK", health_report(
        first.conf, first.keyring
    )


def test_no_one_but_root_reads_the_keys_or_the_monitors_store(base: Path, first: CephHandle):
    """The keyrings Nimbus writes and those the daemons write themselves, and the
    monitor's store of every key: the cluster's folder and every file in it are private."""
    ceph_dir = dirs(base)[0]
    assert is_private(ceph_dir)
    keyrings = [p for p in ceph_dir.rglob("*") if p.is_file() and "keyring" in p.name]
    assert len(keyrings) >= 3  # admin, daemons (the mgr and OSD read it), the monitor's
    files = [p for p in ceph_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    assert [p for p in files if not is_private(p)] == []


def test_access_gives_qemu_the_monitors_user_and_key(first: CephHandle):
    access = first.access()
    assert access.monitors == first.monitors and access.user == "admin"
    assert access.key == read_key(first.keyring, "admin") and len(access.key) == 40


def test_data_survives_stop_then_ensure(base: Path, first: CephHandle):
    before = store(first)
    before.create(VOLUME, 1 << 20)
    before.write(VOLUME, 4096, b"still here")
    before.close()
    assert stop_ceph(base / "run") == ["osd", "mgr", "mon"]
    assert running_daemons(base / "run") == [] and ceph_processes(first.conf) == []
    again = ensure_ceph(*dirs(base), osd_size_gib=4)
    assert again.started == ALL and not again.created
    assert b"".join(store(again).read(VOLUME))[4096:4106] == b"still here"


def test_calls_against_a_stopped_cluster_fail_in_time_then_reconnect(base: Path, first: CephHandle):
    volumes = store(first, timeout=2)
    assert volumes.exists(VOLUME)
    stop_ceph(base / "run")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        ceph_health(first.conf, first.keyring, timeout=2)
    with pytest.raises(BackendUnavailable):
        volumes.exists(VOLUME)
    assert time.monotonic() - started < 15
    ensure_ceph(*dirs(base), osd_size_gib=4)
    assert volumes.exists(VOLUME)


def test_stop_twice_stops_nothing_the_second_time(base: Path):
    assert stop_ceph(base / "run") == ["osd", "mgr", "mon"]
    assert stop_ceph(base / "run") == [] and ceph_processes(base / "ceph" / "ceph.conf") == []


def test_a_half_made_cluster_is_made_again(base: Path, first: CephHandle):
    (base / "ceph" / "created").unlink()
    remade = ensure_ceph(*dirs(base), osd_size_gib=4)
    assert remade.created and remade.started == ALL
    assert not store(remade).exists(VOLUME)
