"""Starting, reloading and stopping one network's dnsmasq, found again by its pid file.

dnsmasq daemonizes, so it outlives the worker that started it. When it dies under a PID 1
that does not reap, it stays a zombie: a process counts as running only if ``/proc/PID/stat``
says so (state not Z or X) and its command line names our pid file, so a recycled pid is
never taken for it, nor signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from activities.network.dhcp_config import DnsmasqFiles

START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def running_pid(files: DnsmasqFiles) -> int | None:
    """The pid of the live dnsmasq that owns ``files``, if there is one."""
    try:
        pid = int(files.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if alive(pid) and f"--pid-file={files.pid}" in cmdline(pid):
        return pid
    return None


def start(namespace: str, argv: list[str], files: DnsmasqFiles) -> int:
    """Start dnsmasq in ``namespace``; return its pid once it has written its pid file."""
    files.pid.unlink(missing_ok=True)
    subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        check=True,
        capture_output=True,
        timeout=START_TIMEOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while (pid := running_pid(files)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"dnsmasq in {namespace} did not start (see {files.log})")
        time.sleep(0.005)
    return pid


def reload(pid: int) -> None:
    """Make dnsmasq re-read its hosts and options files."""
    os.kill(pid, signal.SIGHUP)


def stop(files: DnsmasqFiles) -> None:
    """Stop the dnsmasq owning ``files`` (only that pid); nothing running is success."""
    pid = running_pid(files)
    if pid is not None:
        terminate(pid)
    files.pid.unlink(missing_ok=True)


def terminate(pid: int) -> None:
    """End daemon ``pid`` (SIGTERM, then SIGKILL) and wait until it is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal(pid, sig)
        if _gone(pid, STOP_TIMEOUT):
            return
    raise TimeoutError(f"process {pid} does not end")


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
