"""A single-node Ceph cluster owned by Nimbus: one mon, one mgr, one bluestore OSD.

``ensure_ceph(ceph_dir, log_dir, run_dir)`` creates the cluster on first call (conf and
keyrings with cephx on, ``ceph-mon --mkfs``, an OSD on a sparse file inside ``ceph_dir``,
the pools ``images``, ``volumes`` and ``vms`` for RBD) and afterwards only starts the
daemons that are not running; it returns once the OSD accepts writes. Daemons run in the
foreground under PID files in ``run_dir`` (PID plus start time), so ``stop_ceph`` stops
exactly what Nimbus started, in the order Ceph wants: rgw, osd, mgr, mon. Data survives.
The monitor listens on 127.0.0.1 on a port chosen free at creation and kept in the conf,
so a test cluster and a development cluster run side by side.

An existing (multi-node) cluster is used by not calling ``ensure_ceph`` at all: everything
else needs only a conf naming its monitors, a keyring and a client name::

    # /etc/nimbus/ceph.conf             # /etc/nimbus/ceph.client.nimbus.keyring
    [global]                             [client.nimbus]
    mon_host = 10.0.0.1,10.0.0.2,...         key = AQ...==

    store = RbdBlockStore("/etc/nimbus/ceph.conf",
                          "/etc/nimbus/ceph.client.nimbus.keyring", client="nimbus")
    access = ceph_access(Path(conf), Path(keyring), "nimbus")   # for QEMU/libvirt

The client needs ``mon 'profile rbd'`` and ``osd 'profile rbd pool=images, profile rbd
pool=volumes, profile rbd pool=vms'`` caps, and the three pools must exist with the
``rbd`` application enabled (``ceph osd pool create vms; rbd pool init vms``, etc.).
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rados

from activities.storage.access import CephAccess
from activities.storage.block import IMAGES, VMS, VOLUMES
from launcher.services import process
from launcher.services.ceph_conf import (
    ADMIN,
    ENTITIES,
    MGR_ID,
    MON_ID,
    OSD_ID,
    CephPaths,
    ClusterIdentity,
    ceph_access,
    gen_key,
    parse_monitors,
    read_conf,
    read_identity,
    render_conf,
    render_keyring,
)
from nimbus.errors import BackendUnavailable
from nimbus.private import PRIVATE_UMASK, create_private, private_dir, write_private

POOLS = (IMAGES, VOLUMES, VMS)
#: Daemon kind -> Ceph id, in start order. ``radosgw`` is only ever stopped here.
DAEMONS = {"mon": MON_ID, "mgr": MGR_ID, "osd": str(OSD_ID)}
STOP_ORDER = ("radosgw", "osd", "mgr", "mon")
GIB = 1 << 30
#: Monitor ports are picked below Linux's ephemeral range, so no outgoing connection
#: can hold the port when the mon restarts.
PORT_RANGE = (20000, 32000)
PROBE_OBJECT = "nimbus-write-probe"


@dataclass(frozen=True)
class CephHandle:
    """How to reach the cluster, and what ``ensure_ceph`` did.

    Attributes:
        conf: the cluster's ``ceph.conf``.
        keyring: the keyring holding ``client.<client>``.
        client: the cephx user, without ``client.``.
        monitors: ``host:port`` of each monitor.
        run_dir: where the daemons' PID files are.
        started: the daemons this call started (``mon``, ``mgr``, ``osd``).
        created: whether this call created the cluster.
    """

    conf: Path
    keyring: Path
    client: str
    monitors: tuple[str, ...]
    run_dir: Path
    started: tuple[str, ...]
    created: bool

    def access(self) -> CephAccess:
        """The monitors, user and key QEMU needs for ``rbd`` disks."""
        return ceph_access(self.conf, self.keyring, self.client)


def pid_name(kind: str) -> str:
    """The daemon's name in ``run_dir`` (``ceph-mon``...), apart from other Nimbus daemons."""
    return f"ceph-{kind}"


def ensure_ceph(
    ceph_dir: Path,
    log_dir: Path,
    run_dir: Path,
    osd_size_gib: int = 20,
    mon_port: int | None = None,
    timeout: float = 90.0,
) -> CephHandle:
    """Create the cluster if ``ceph_dir`` holds none (or only a half-made one), start the
    daemons that are not running, and wait until the OSD accepts writes. Safe to call
    again: running daemons are left alone and not reported as started. ``osd_size_gib``
    and ``mon_port`` (default: a free port) count only at creation; the conf keeps them.
    ``BackendUnavailable`` naming the log if a daemon is not up within ``timeout``."""
    paths = CephPaths(ceph_dir)
    private_dir(ceph_dir)  # keyrings, and the monitor's store of every key
    for folder in (log_dir, run_dir):
        folder.mkdir(parents=True, exist_ok=True)
    created = not paths.created.exists()
    if created:
        ident = ClusterIdentity(str(uuid.uuid4()), mon_port or free_port())
        _create_mon(paths, ident, log_dir, run_dir, osd_size_gib * GIB)
    else:
        ident = read_identity(paths.conf)
        _write_conf(paths, ident, log_dir, run_dir, osd_size_gib * GIB)
    deadline = time.monotonic() + timeout
    started = _start(("mon",), paths, log_dir, run_dir)
    with admin_client(paths.conf, paths.admin_keyring, _left(deadline), log_dir) as cluster:
        if created:
            _create_osd_and_pools(cluster, paths)
        started += _start(("mgr", "osd"), paths, log_dir, run_dir)
        wait_writable(cluster, IMAGES, deadline, log_dir, run_dir)
    create_private(paths.created)
    return _handle(paths, run_dir, started, created)


def enable_mgr_prometheus(ceph_dir: Path, port: int, log_dir: Path, timeout: float = 60.0) -> bool:
    """Serve the cluster's metrics (the mgr's ``prometheus`` module) on 127.0.0.1:``port``;
    whether it listens within ``timeout``. Safe to call again: a module already serving
    elsewhere is restarted on the new port."""
    paths = CephPaths(ceph_dir)
    deadline = time.monotonic() + timeout
    with admin_client(paths.conf, paths.admin_keyring, _left(deadline), log_dir) as cluster:
        for name, value in (("server_addr", "127.0.0.1"), ("server_port", str(port))):
            mon_command(
                cluster,
                {"prefix": "config set", "who": "mgr", "name": f"mgr/prometheus/{name}",
                 "value": value},
            )  # fmt: skip
        enabled = mon_command(cluster, {"prefix": "mgr module ls"}) or {}
        if "prometheus" in enabled.get("enabled_modules", []) and not _listening(port, 2):
            mon_command(cluster, {"prefix": "mgr module disable", "module": "prometheus"})
        mon_command(cluster, {"prefix": "mgr module enable", "module": "prometheus"})
    return _listening(port, max(1.0, _left(deadline)))


def _listening(port: int, timeout: float) -> bool:
    from launcher.services.process import port_open, wait_until

    return wait_until(lambda: port_open("127.0.0.1", port), timeout, 0.5)


def stop_ceph(run_dir: Path, timeout: float = 30.0) -> list[str]:
    """Stop the Ceph daemons our PID files name (rgw, osd, mgr, mon) and return their
    kinds. SIGTERM lets each shut down cleanly; daemons we did not start are untouched."""
    return [kind for kind in STOP_ORDER if process.stop(pid_name(kind), run_dir, timeout)]


def ceph_health(conf: Path, keyring: Path, client: str = ADMIN, timeout: float = 10.0) -> str:
    """``HEALTH_OK``, ``HEALTH_WARN`` or ``HEALTH_ERR``; ``BackendUnavailable`` if the
    monitors do not answer within ``timeout``."""
    return str(health_report(conf, keyring, client, timeout)["status"])


def health_report(
    conf: Path, keyring: Path, client: str = ADMIN, timeout: float = 10.0
) -> dict[str, Any]:
    """``ceph health detail`` as a dict: ``status`` and the ``checks`` behind it."""
    with admin_client(conf, keyring, timeout, client=client) as cluster:
        report: dict[str, Any] = mon_command(cluster, {"prefix": "health"}, timeout)
    return report


def running_daemons(run_dir: Path) -> list[str]:
    """The kinds of Ceph daemon running from our PID files."""
    return [kind for kind in STOP_ORDER if process.running_pid(run_dir, pid_name(kind))]


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now, for a new cluster's monitor."""
    for _ in range(100):
        port = random.randint(*PORT_RANGE)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise BackendUnavailable(f"no free port in {PORT_RANGE} on 127.0.0.1")


def _left(deadline: float) -> float:
    """Seconds until ``deadline``, at least one."""
    return max(1.0, deadline - time.monotonic())


def _handle(paths: CephPaths, run_dir: Path, started: list[str], created: bool) -> CephHandle:
    monitors = parse_monitors(read_conf(paths.conf)["global"]["mon_host"])
    return CephHandle(
        conf=paths.conf,
        keyring=paths.admin_keyring,
        client=ADMIN,
        monitors=tuple(monitors),
        run_dir=run_dir,
        started=tuple(started),
        created=created,
    )


def _write_conf(
    paths: CephPaths, ident: ClusterIdentity, log_dir: Path, run_dir: Path, osd_bytes: int
) -> None:
    """(Re)write the conf; the log and run folders may move between calls, the rest not."""
    text = render_conf(paths, ident, log_dir.absolute(), run_dir.absolute(), osd_bytes)
    if not paths.conf.exists() or paths.conf.read_text() != text:
        write_private(paths.conf, text)


def _create_mon(
    paths: CephPaths, ident: ClusterIdentity, log_dir: Path, run_dir: Path, osd_bytes: int
) -> None:
    """Conf, keys and the monitor's store, after clearing what a failed attempt left."""
    stop_ceph(run_dir)
    _remove_cluster_files(paths)
    _write_conf(paths, ident, log_dir, run_dir, osd_bytes)
    keys = {entity: gen_key() for entity in ENTITIES}
    write_private(paths.daemon_keyring, render_keyring(keys))
    admin = f"client.{ADMIN}"
    write_private(paths.admin_keyring, render_keyring({admin: keys[admin]}))
    _run("monmaptool", "--create", "--fsid", ident.fsid, "--addv", MON_ID,
         f"[v1:127.0.0.1:{ident.mon_port}]", str(paths.monmap))  # fmt: skip
    paths.data(f"mon.{MON_ID}").mkdir()
    _run("ceph-mon", "-c", str(paths.conf), "--mkfs", "-i", MON_ID,
         "--monmap", str(paths.monmap), "--keyring", str(paths.daemon_keyring))  # fmt: skip


def _remove_cluster_files(paths: CephPaths) -> None:
    """Remove only the files and folders a cluster is made of, never anything else."""
    for name in (f"mon.{MON_ID}", f"mgr.{MGR_ID}", f"osd.{OSD_ID}"):
        shutil.rmtree(paths.data(name), ignore_errors=True)
    for path in (paths.conf, paths.admin_keyring, paths.daemon_keyring, paths.monmap):
        path.unlink(missing_ok=True)


def _create_osd_and_pools(cluster: rados.Rados, paths: CephPaths) -> None:
    """Register OSD 0, make its bluestore (a sparse file), and create the RBD pools."""
    osd_uuid = str(uuid.uuid4())
    mon_command(cluster, {"prefix": "osd new", "uuid": osd_uuid, "id": OSD_ID})
    paths.data(f"mgr.{MGR_ID}").mkdir(exist_ok=True)
    paths.data(f"osd.{OSD_ID}").mkdir(exist_ok=True)
    _run("ceph-osd", "-c", str(paths.conf), "-i", str(OSD_ID), "--mkfs", "--osd-uuid", osd_uuid)
    for pool in POOLS:
        mon_command(cluster, {"prefix": "osd pool create", "pool": pool, "pg_num": 8})
        mon_command(cluster, {"prefix": "osd pool application enable", "pool": pool, "app": "rbd"})


def _start(kinds: tuple[str, ...], paths: CephPaths, log_dir: Path, run_dir: Path) -> list[str]:
    """Start each daemon of ``kinds`` that is not running; return the ones started."""
    started = []
    for kind in kinds:
        if process.running_pid(run_dir, pid_name(kind)) is None:
            argv = [f"ceph-{kind}", "-f", "-c", str(paths.conf), "-i", DAEMONS[kind]]
            process.start(pid_name(kind), argv, run_dir, log_dir, umask=PRIVATE_UMASK)
            started.append(kind)
    return started


def _run(*argv: str) -> None:
    """Run a Ceph setup tool; its failure is ``BackendUnavailable`` with its output."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=120, umask=PRIVATE_UMASK
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendUnavailable(f"{argv[0]}: {exc}") from exc
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()[-2000:]
        raise BackendUnavailable(f"{' '.join(argv)} failed: {output}")


@contextmanager
def admin_client(
    conf: Path, keyring: Path, timeout: float, log_dir: Path | None = None, client: str = ADMIN
) -> Iterator[rados.Rados]:
    """A connected librados handle with every call bounded by ``timeout``, retrying the
    connection until then (a mon that just started takes a moment to answer)."""
    deadline = time.monotonic() + timeout
    while True:
        cluster = _connect(conf, keyring, client, timeout)
        if cluster is not None:
            break
        if time.monotonic() > deadline:
            where = f"; see {log_dir}/ceph-mon.{MON_ID}.log" if log_dir else ""
            raise BackendUnavailable(f"no Ceph monitor answered within {timeout:.0f} s{where}")
        time.sleep(0.2)
    try:
        yield cluster
    finally:
        cluster.shutdown()


def _connect(conf: Path, keyring: Path, client: str, timeout: float) -> rados.Rados | None:
    """One connection attempt of at most a few seconds; ``None`` if it failed."""
    seconds = str(max(1, int(timeout)))
    options = {
        "keyring": str(keyring),
        "rados_mon_op_timeout": seconds,
        "rados_osd_op_timeout": "2",
        "client_mount_timeout": "3",
    }
    cluster = rados.Rados(conffile=str(conf), name=f"client.{client}", conf=options)
    try:
        cluster.connect(timeout=3)
    except rados.Error:
        cluster.shutdown()
        return None
    return cluster


def mon_command(cluster: rados.Rados, command: dict[str, Any], timeout: float = 30) -> Any:
    """Run a monitor command; return its JSON answer (``None`` if it has none)."""
    try:
        ret, out, err = cluster.mon_command(
            json.dumps({**command, "format": "json"}), b"", timeout=int(timeout)
        )
    except rados.Error as exc:
        raise BackendUnavailable(f"ceph {command['prefix']}: {exc}") from exc
    if ret != 0:
        raise BackendUnavailable(f"ceph {command['prefix']}: {err} (error {ret})")
    return json.loads(out) if out.strip() else None


def wait_writable(
    cluster: rados.Rados, pool: str, deadline: float, log_dir: Path, run_dir: Path
) -> None:
    """Wait until an object can be written to ``pool``: the OSD is up and peered. Fails
    early, naming the log, if the OSD process dies."""
    with cluster.open_ioctx(pool) as ioctx:
        while True:
            try:
                ioctx.write_full(PROBE_OBJECT, b"ok")
                ioctx.remove_object(PROBE_OBJECT)
                return
            except (rados.TimedOut, rados.InterruptedOrTimeoutError, rados.IOError) as exc:
                error: Exception = exc
            log = log_dir / f"ceph-osd.{OSD_ID}.log"
            if process.running_pid(run_dir, pid_name("osd")) is None:
                raise BackendUnavailable(f"the Ceph OSD is not running; see {log}")
            if time.monotonic() > deadline:
                raise BackendUnavailable(f"the Ceph OSD takes no writes ({error}); see {log}")
            time.sleep(0.2)
