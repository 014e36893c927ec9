"""Start, find and stop the daemons Nimbus owns, by the PIDs it recorded.

A daemon is started detached (its own session), its output goes to a log file, and its PID
with its start time to ``<run_dir>/<name>.pid``; stop sends SIGTERM, then SIGKILL, to that
very process only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nimbus import pidfile
from nimbus.errors import BackendUnavailable


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def is_running(pid: int) -> bool:
    """True if the process exists and is not a zombie (a killed daemon may linger as one)."""
    return pidfile.start_time(pid) is not None


def running_pid(run_dir: Path, name: str) -> int | None:
    """The PID recorded for ``name`` if that very process still runs."""
    return pidfile.read_live(pid_file(run_dir, name))


def start(
    name: str,
    argv: Sequence[str],
    run_dir: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    umask: int = -1,
) -> int:
    """Start ``argv`` detached unless it already runs; return its PID. ``umask``: the
    process's (``nimbus.private.PRIVATE_UMASK`` for one whose files hold secrets), or
    ours if -1."""
    pid = running_pid(run_dir, name)
    if pid is not None:
        return pid
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            umask=umask,
        )
    pidfile.write(pid_file(run_dir, name), proc.pid)
    return proc.pid


def stop(name: str, run_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the recorded process (SIGTERM, then SIGKILL); return whether one was running."""
    pid = running_pid(run_dir, name)
    pid_file(run_dir, name).unlink(missing_ok=True)
    if pid is None:
        return False
    pidfile.terminate(pid, timeout)
    try:
        os.waitpid(pid, os.WNOHANG)  # our own child leaves no zombie
    except ChildProcessError:
        pass
    return True


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(name: str, host: str, port: int, timeout: float, log: Path) -> None:
    """Wait until something listens on ``host:port``; else fail pointing at the log."""
    if not wait_until(lambda: port_open(host, port), timeout):
        raise BackendUnavailable(
            f"{name} did not listen on {host}:{port} within {timeout:.0f}s; see {log}"
        )
