"""Does KVM really boot guests on this host? Boot the guest image once and watch.

``/dev/kvm`` existing proves nothing: a paravirtual KVM (kvm_pvm) accepts the ioctls but
stock kernels hang or die under it. Only a guest that reaches the ready marker counts.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from nimbus.initramfs import READY_MARKER

QEMU = "qemu-system-x86_64"


def qemu_command(image_path: Path, serial_log: Path) -> list[str]:
    """A throwaway KVM guest: image opened copy-on-write in memory, serial to a file."""
    return [
        QEMU,
        "-machine",
        "pc,accel=kvm",
        "-cpu",
        "host",
        "-m",
        "256",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-monitor",
        "none",
        "-drive",
        f"file={image_path},format=raw,if=virtio,snapshot=on",
        "-serial",
        f"file:{serial_log}",
    ]


def wait_for_marker(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> bool:
    """Poll the serial log until the marker shows, QEMU exits, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and READY_MARKER.encode() in log.read_bytes():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def probe_kvm(image_path: Path, timeout: float = 30.0) -> bool:
    """``True`` only if the guest image boots to the ready marker under KVM in ``timeout``.

    Returns ``False`` (never raises, never hangs) when there is no usable KVM or QEMU.
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or not image_path.is_file():
        return False
    with tempfile.TemporaryDirectory(prefix="nimbus-kvm-probe-") as tmp:
        log = Path(tmp) / "serial.log"
        try:
            proc = subprocess.Popen(
                qemu_command(image_path, log),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return False
        try:
            return wait_for_marker(proc, log, timeout)
        finally:
            proc.kill()
            proc.wait()
