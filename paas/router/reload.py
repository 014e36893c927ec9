"""Reloading the router's HAProxy: check the new configuration, save the servers' runtime
state, signal the master (SIGUSR2) and wait until a new worker answers.

Old workers finish their requests; the new one loads the saved server state, so members
keep their addresses, drain flags and health across the reload.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from nimbus import pidfile
from nimbus.errors import BackendUnavailable
from paas.router.haproxy_conf import RouterPaths
from paas.router.runtime import Runtime

HAPROXY = "haproxy"


def check_config(paths: RouterPaths) -> None:
    """``BackendUnavailable`` with HAProxy's words if it would refuse the configuration."""
    argv = [HAPROXY, "-c", "-f", str(paths.config)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise BackendUnavailable(f"HAProxy refuses {paths.config}: {proc.stderr.strip()}")


def master_pid(paths: RouterPaths) -> int:
    """The running master's PID; ``BackendUnavailable`` if the router does not run."""
    try:
        pid = int(paths.pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError) as exc:
        raise BackendUnavailable(f"the router does not run (no {paths.pid_file})") from exc
    if pidfile.start_time(pid) is None:
        raise BackendUnavailable(f"the router does not run (PID {pid} is gone)")
    return pid


def reload(paths: RouterPaths, runtime: Runtime, timeout: float = 10.0) -> None:
    """Make the running HAProxy load the configuration on disk; return once it serves it."""
    check_config(paths)
    pid = master_pid(paths)
    old_worker = runtime.worker_pid()
    paths.server_state.write_text(runtime.run("show servers state"))
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while _worker_or_none(runtime) in (old_worker, None):
        if time.monotonic() > deadline:
            raise BackendUnavailable(f"HAProxy did not reload within {timeout:.0f} s")
        time.sleep(0.02)


def _worker_or_none(runtime: Runtime) -> int | None:
    # Between the old worker closing the socket and the new one binding it, nobody answers.
    try:
        return runtime.worker_pid()
    except BackendUnavailable:
        return None
