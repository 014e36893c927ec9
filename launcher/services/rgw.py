"""The RADOS Gateway Nimbus runs on its own Ceph cluster: Swift and S3 on 127.0.0.1.

``ensure_gateway`` gives the gateway a cephx key (``client.rgw.nimbus``, made in the
monitor on first use, so clusters created before the gateway existed get one too), writes
its conf, starts ``radosgw`` unless it runs, and returns once it answers HTTP. The port is
chosen free at creation and kept in the gateway's conf, like the monitor's. ``stop_ceph``
stops the gateway first, by its PID file. The gateway creates its pools on first start;
the cluster's defaults keep them small (8 placement groups each).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from launcher.services import process
from launcher.services.ceph import admin_client, free_port, mon_command, pid_name
from launcher.services.ceph_conf import CephPaths
from launcher.services.rgw_conf import (
    RGW_CAPS,
    RGW_ENTITY,
    GatewayConf,
    KeystoneAccess,
    gateway_conf_path,
    gateway_keyring_path,
    read_gateway_port,
    render_gateway_conf,
    render_gateway_keyring,
)
from nimbus.errors import BackendUnavailable
from nimbus.private import PRIVATE_UMASK, write_private

#: The gateway's PID file name in ``run_dir``; ``stop_ceph`` stops it first.
GATEWAY = pid_name("radosgw")


@dataclass(frozen=True)
class GatewayHandle:
    """Where the gateway answers, and whether this call started it."""

    port: int
    conf: Path
    started: bool

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def gateway_port(ceph_dir: Path, wanted: int = 0) -> int:
    """The gateway's port: ``wanted`` if set, else the one its conf keeps, else a free one."""
    return wanted or read_gateway_port(gateway_conf_path(ceph_dir)) or free_port()


def ensure_gateway(
    ceph_dir: Path,
    log_dir: Path,
    run_dir: Path,
    port: int = 0,
    keystone: KeystoneAccess | None = None,
    timeout: float = 60.0,
) -> GatewayHandle:
    """Start the gateway of the cluster in ``ceph_dir`` unless it runs; wait until it
    answers. Safe to call again: a running gateway is left alone. ``BackendUnavailable``
    naming its log if it does not answer within ``timeout``."""
    paths = CephPaths(ceph_dir)
    keyring = _ensure_keyring(paths, timeout)
    chosen = gateway_port(ceph_dir, port)
    log_file = log_dir.absolute() / "radosgw.log"
    gateway = GatewayConf(chosen, keyring, log_file, keystone)
    conf = gateway_conf_path(ceph_dir)
    text = render_gateway_conf(paths.conf.read_text(), gateway)
    if not conf.exists() or conf.read_text() != text:
        write_private(conf, text)
    started = process.running_pid(run_dir, GATEWAY) is None
    if started:
        argv = ["radosgw", "-f", "-c", str(conf), "-n", RGW_ENTITY]
        process.start(GATEWAY, argv, run_dir, log_dir, umask=PRIVATE_UMASK)
    handle = GatewayHandle(chosen, conf, started)
    wait_answering(handle, run_dir, log_file, timeout)
    return handle


def stop_gateway(run_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the gateway our PID file names; return whether one was running."""
    return process.stop(GATEWAY, run_dir, timeout)


def gateway_pid(run_dir: Path) -> int | None:
    return process.running_pid(run_dir, GATEWAY)


def _ensure_keyring(paths: CephPaths, timeout: float) -> Path:
    """The gateway's keyring, its key made in the monitor if the cluster has none yet."""
    keyring = gateway_keyring_path(paths.root)
    if keyring.exists():
        return keyring
    caps = [part for kind, cap in RGW_CAPS.items() for part in (kind, cap)]
    command = {"prefix": "auth get-or-create", "entity": RGW_ENTITY, "caps": caps}
    with admin_client(paths.conf, paths.admin_keyring, timeout) as cluster:
        answer = mon_command(cluster, command, timeout)
    write_private(keyring, render_gateway_keyring(answer[0]["key"]))
    return keyring


def answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (any status counts)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def wait_answering(handle: GatewayHandle, run_dir: Path, log: Path, timeout: float) -> None:
    """Wait until the gateway answers HTTP; fail early, naming the log, if it exits."""
    deadline = time.monotonic() + timeout
    while not answers(handle.url + "/"):
        if gateway_pid(run_dir) is None:
            raise BackendUnavailable(f"radosgw exited; see {log}")
        if time.monotonic() > deadline:
            raise BackendUnavailable(f"radosgw did not answer within {timeout:.0f} s; see {log}")
        time.sleep(0.1)
