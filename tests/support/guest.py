"""Run a shell command inside a running default guest, through its serial console.

The default guest (``nimbus.initramfs``) keeps a root shell on ttyS0. libvirt connects that
port to a pty on the host, and virtlogd copies everything the guest prints into the
console log file. A command is typed into the pty between two markers that the guest's
shell computes (``$((1+1))``), so the terminal's echo of the typed line never matches a
marker; its output is read back from the log, between them.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from activities.hypervisor.domain_xml import console_log_path


class GuestCommandTimeout(AssertionError):
    """The guest did not finish the command in time (or its shell is not there)."""


def console_paths(uri: str, name: str) -> tuple[str, Path]:
    """The running domain's console pty and its console log file."""
    conn = libvirt.open(uri)
    try:
        xml = conn.lookupByName(name).XMLDesc(0)
    finally:
        conn.close()
    source = ET.fromstring(xml).find("./devices/serial[@type='pty']/source")
    pty = source.get("path") if source is not None else None
    log = console_log_path(xml)
    if not pty or not log:
        raise AssertionError(f"domain {name} has no pty console with a log")
    return pty, Path(log)


def between(text: str, begin: str, end: str) -> str:
    """The lines strictly between the line holding ``begin`` and ``end``, without CRs."""
    text = text.replace("\r", "")
    start = text.index("\n", text.index(begin)) + 1
    return text[start : text.index(end, start)]


class GuestShell:
    """The shell of one running guest, its console pty held open across commands.

    QEMU notices a pty being opened only on a one-second poll, so one open for many
    commands saves that each time. What the guest prints is also readable on the pty; it
    is drained and dropped, or a full pty buffer would stall the guest's console.
    """

    def __init__(self, uri: str, name: str) -> None:
        self.name = name
        pty, self.log = console_paths(uri, name)
        self._fd = os.open(pty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def __enter__(self) -> GuestShell:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Let go of the pty."""
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _drain(self) -> None:
        """Read and drop what the guest printed to the pty (the log has it)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._fd, 65536):
                pass

    def _wait_for(self, offset: int, marker: str, timeout: float) -> str:
        """The log's text from ``offset`` once ``marker`` is in it."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            with self.log.open("rb") as file:
                file.seek(offset)
                text = file.read().decode(errors="replace")
            if marker in text:
                return text
            if time.monotonic() >= deadline:
                tail = text[-500:]
                raise GuestCommandTimeout(f"{self.name}: no {marker!r} after {timeout}s: {tail!r}")
            time.sleep(0.02)

    def run(self, command: str, timeout: float = 30.0) -> str:
        """Run ``command`` in the guest's shell and return what it printed (stdout and
        stderr). The guest must have booted to its shell (``NIMBUS READY``);
        ``GuestCommandTimeout`` if the command does not finish within ``timeout``."""
        tag = uuid.uuid4().hex[:12]
        self._drain()
        offset = self.log.stat().st_size
        os.write(self._fd, f"echo B{tag}-$((1+1)); {command}; echo E{tag}-$((1+1))\n".encode())
        text = self._wait_for(offset, f"E{tag}-2", timeout)
        return between(text, f"B{tag}-2", f"E{tag}-2")


def run_in_guest(uri: str, name: str, command: str, timeout: float = 30.0) -> str:
    """One command in the guest's shell (see ``GuestShell.run``)."""
    with GuestShell(uri, name) as shell:
        return shell.run(command, timeout)
