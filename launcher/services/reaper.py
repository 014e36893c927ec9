"""Run one daemon in the foreground under a child subreaper.

    python -m launcher.services.reaper --pidfile DAEMON.pid --self-pidfile REAPER.pid -- CMD...

QEMU processes that libvirtd double-forks would otherwise be re-parented to PID 1, which on
these hosts reaps exited processes slowly (domain destroy then takes about 1.7 s instead of
0.2 s). As ``PR_SET_CHILD_SUBREAPER`` they are re-parented here and reaped at once.

The reaper detaches first (the caller's direct child exits at once, so no zombie is left
with a caller that might never wait), forwards SIGTERM/SIGINT/SIGHUP to the daemon, and
exits when the daemon does. Processes still running then (guests) move to PID 1 and live on.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

from nimbus import pidfile

PR_SET_CHILD_SUBREAPER = 36
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def become_subreaper() -> None:
    """Adopt orphaned descendants so they are reaped here, not by PID 1."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def detach() -> None:
    """Fork; the parent exits so the caller reaps it at once and the reaper is orphaned."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def forward_signals(child: int) -> None:
    """Pass stop signals on to the daemon; it decides how to stop."""

    def handler(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for sig in FORWARDED:
        signal.signal(sig, handler)


def reap_until(child: int) -> int:
    """Reap every child that exits; return the daemon's exit status once it exits."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == child:
            return os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    """Detach, become subreaper, spawn the daemon, record PIDs, reap until it exits."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pidfile", type=Path, required=True)
    parser.add_argument("--self-pidfile", type=Path, required=True)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    detach()
    become_subreaper()
    # Block the forwarded signals until the handler knows the daemon's PID.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    child = os.posix_spawnp(args.command[0], args.command, os.environ, setsigmask=())
    forward_signals(child)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    pidfile.write(args.self_pidfile, os.getpid())
    pidfile.write(args.pidfile, child)
    return reap_until(child)


if __name__ == "__main__":
    sys.exit(main())
