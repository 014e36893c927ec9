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


def wait_for_marker(log: Path, offset: int, marker: str, timeout: float) -> str:
    """The log's text from ``offset`` once ``marker`` is in it; ``GuestCommandTimeout``
    if it does not appear within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with log.open("rb") as file:
            file.seek(offset)
            text = file.read().decode(errors="replace")
        if marker in text:
            return text
        if time.monotonic() >= deadline:
            raise GuestCommandTimeout(f"no {marker!r} in {log} after {timeout}s: {text[-500:]!r}")
        time.sleep(0.05)


def between(text: str, begin: str, end: str) -> str:
    """The lines strictly between the line holding ``begin`` and ``end``, without CRs."""
    text = text.replace("\r", "")
    start = text.index("\n", text.index(begin)) + 1
    return text[start : text.index(end, start)]


def run_in_guest(uri: str, name: str, command: str, timeout: float = 30.0) -> str:
    """Run ``command`` in the guest's shell and return what it printed (stdout and stderr).

    The guest must have booted to its shell (``NIMBUS READY``). Commands run one at a time
    per guest; ``GuestCommandTimeout`` if the end marker does not come within ``timeout``.
    """
    pty, log = console_paths(uri, name)
    tag = uuid.uuid4().hex[:12]
    begin, end = f"B{tag}-2", f"E{tag}-2"
    line = f"echo B{tag}-$((1+1)); {command}; echo E{tag}-$((1+1))\n"
    offset = log.stat().st_size
    # Held open until the answer is in: QEMU reads a pty only while someone has it open.
    fd = os.open(pty, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, line.encode())
        text = wait_for_marker(log, offset, end, timeout)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return between(text, begin, end)
