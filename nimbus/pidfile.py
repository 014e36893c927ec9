"""PID files that name one process exactly: the PID plus its start time.

A bare PID can be reused by an unrelated process after ours exits; the start time from
``/proc/PID/stat`` tells them apart, so stopping by PID never hits a stranger.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks, or ``None`` if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def write(path: Path, pid: int) -> None:
    """Record ``pid`` (and its start time) at ``path`` atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid} {start_time(pid) or 0}\n")
    os.replace(tmp, path)


def read_live(path: Path) -> int | None:
    """The PID recorded at ``path`` if that very process still runs, else ``None``."""
    try:
        pid_text, started = path.read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    pid = int(pid_text)
    return pid if start_time(pid) == int(started) else None


def wait_gone(pid: int, started: int | None, timeout: float) -> bool:
    """Wait until the process is gone (or a zombie); ``True`` if it went in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if start_time(pid) != started:
            return True
        time.sleep(0.05)
    return start_time(pid) != started


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process, SIGKILL it if it is still there after ``timeout``."""
    started = start_time(pid)
    if started is None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_gone(pid, started, wait):
            return
