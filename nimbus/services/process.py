"""Start, find and stop the daemons Nimbus owns, by the PIDs it recorded.

A daemon is started detached (its own session), its output goes to a log file, and its PID
to ``<run_dir>/<name>.pid``; stop sends SIGTERM, then SIGKILL, to that PID only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nimbus.errors import BackendUnavailable


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def is_running(pid: int) -> bool:
    """True if the process exists and is not a zombie (a killed daemon may linger as one)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def running_pid(run_dir: Path, name: str) -> int | None:
    """The PID recorded for ``name`` if that process still runs."""
    try:
        pid = int(pid_file(run_dir, name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_running(pid) else None


def start(
    name: str,
    argv: Sequence[str],
    run_dir: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached unless it already runs; return its PID."""
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
        )
    pid_file(run_dir, name).write_text(f"{proc.pid}\n")
    return proc.pid


def stop(name: str, run_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the recorded process (SIGTERM, then SIGKILL); return whether one was running."""
    pid = running_pid(run_dir, name)
    pid_file(run_dir, name).unlink(missing_ok=True)
    if pid is None:
        return False
    _signal(pid, signal.SIGTERM)
    if not wait_until(lambda: not is_running(pid), timeout):
        _signal(pid, signal.SIGKILL)
        wait_until(lambda: not is_running(pid), 5)
    _reap(pid)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collect the exit status if the process was our child, so it leaves no zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


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
