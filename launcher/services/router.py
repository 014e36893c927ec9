"""The PaaS router: HAProxy in master-worker mode, run from the router's folder.

``ensure_router`` renders the configuration and host map from the router's saved state
(``paas.router``), starts HAProxy unless it runs and waits until it listens; a running one
is reloaded only if its configuration changed. ``HaproxyRouter`` on the same folder then
changes apps and members through the runtime API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from launcher.services import process
from nimbus.errors import BackendUnavailable
from paas.router import state
from paas.router.haproxy_conf import Listen, RouterPaths, write_files, write_listen
from paas.router.reload import HAPROXY, check_config, reload
from paas.router.runtime import Runtime

#: The router's PID file name in ``run_dir`` (the master's PID).
ROUTER = "router"


@dataclass(frozen=True)
class RouterHandle:
    """Where the router takes app traffic, its folder, and whether this call started it."""

    host: str
    port: int
    router_dir: Path
    started: bool

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def ensure_router(
    router_dir: Path,
    log_dir: Path,
    run_dir: Path,
    host: str,
    port: int,
    timeout: float = 30.0,
    object_store: str = "",
    metrics_port: int = 0,
) -> RouterHandle:
    """Start the router unless it runs, and wait until it listens. Safe to call again.
    ``object_store`` is the gateway's S3 ``host:port`` apps reach through the router;
    ``metrics_port`` (if not 0) serves HAProxy's Prometheus exporter.
    ``BackendUnavailable`` naming the log if it does not listen within ``timeout``."""
    paths = RouterPaths(router_dir)
    router_dir.mkdir(parents=True, exist_ok=True)
    listen = Listen(host, port, object_store, metrics_port)
    write_listen(paths, listen)
    changed = write_files(paths, listen, state.load(paths.state).apps)
    running = router_pid(run_dir) is not None
    if running and changed:
        reload(paths, Runtime(paths.socket), timeout)
    if not running:
        _start(paths, listen, log_dir, run_dir)
    log = log_dir / f"{ROUTER}.log"
    process.wait_for_port("the router (HAProxy)", host, port, timeout, log)
    if router_pid(run_dir) is None:
        raise BackendUnavailable(f"HAProxy exited; see {log}")
    return RouterHandle(host, port, router_dir, started=not running)


def stop_router(run_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the HAProxy master our PID file names (its workers go with it)."""
    return process.stop(ROUTER, run_dir, timeout)


def router_pid(run_dir: Path) -> int | None:
    return process.running_pid(run_dir, ROUTER)


def _start(paths: RouterPaths, listen: Listen, log_dir: Path, run_dir: Path) -> None:
    """Start HAProxy fresh: runtime state saved by an older run would be stale."""
    if process.port_open(listen.host, listen.port):
        raise BackendUnavailable(f"{listen.host}:{listen.port} is taken by another program")
    check_config(paths)
    paths.server_state.unlink(missing_ok=True)
    argv = [HAPROXY, "-W", "-db", "-f", str(paths.config)]
    process.start(ROUTER, argv, run_dir, log_dir)
