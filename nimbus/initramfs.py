"""The default guest's initramfs: a busybox ``/init``, kernel modules, packed as newc cpio.

Everything here is pure (bytes in, bytes out) except ``module_index``, which lists a
kernel's module folder, so the parts are unit-tested without building a whole image.
"""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Modules the guest loads at boot; their dependencies are added and ordered for insmod.
#: virtio_pci finds the devices, virtio_blk serves the root and hot-plugged disks (PCI
#: hot-plug itself is built into the kernel), virtio_net the NICs, isofs a config drive.
GUEST_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "isofs")

#: What the guest prints on its serial console once it is up.
READY_MARKER = "NIMBUS READY"

#: A kernel command line word that makes the guest power itself off once it is ready.
POWEROFF_FLAG = "nimbus.poweroff"


@dataclass(frozen=True)
class Entry:
    """One cpio member: a file (``data``), a directory, a symlink or a character device."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def canonical(module: str) -> str:
    """Module names treat ``-`` and ``_`` alike (``virtio-rng`` is ``virtio_rng``)."""
    return module.replace("-", "_")


def module_depends(ko: bytes) -> list[str]:
    """Read the ``depends=`` field of a module's ``.modinfo``; there is no modules.dep in
    the kernel package (depmod writes it on install), so the module itself is the source."""
    start = ko.find(b"\0depends=")
    if start < 0:
        return []
    value = ko[start + len(b"\0depends=") : ko.index(b"\0", start + 1)]
    return [canonical(name) for name in value.decode().split(",") if name]


def module_index(modules_dir: Path) -> dict[str, Path]:
    """Map every module name under ``modules_dir`` to its ``.ko`` file."""
    index: dict[str, Path] = {}
    for folder, _dirs, files in os.walk(modules_dir):
        for file in files:
            if file.endswith(".ko"):
                index[canonical(file[: -len(".ko")])] = Path(folder) / file
    return index


def load_order(wanted: Iterable[str], depends: Mapping[str, list[str]]) -> list[str]:
    """Order ``wanted`` and their dependencies so each loads after what it needs."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"module dependency cycle: {' -> '.join((*path, name))}")
        if name in order:
            return
        for dep in depends.get(name, []):
            visit(dep, (*path, name))
        order.append(name)

    for name in wanted:
        visit(canonical(name), ())
    return order


def init_script(modules: list[str]) -> str:
    """The guest's ``/init``: mount, load modules, bring up lo, say ready, stay up.

    Modules are loaded with insmod in the given order (busybox modprobe would need
    modules.dep). The shell loop keeps PID 1 alive: if init exits the kernel panics.
    """
    inserts = "\n".join(f"insmod /lib/modules/{name}.ko" for name in modules)
    return f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
{inserts}
ip link set lo up
echo "{READY_MARKER} $(uname -r)" > /dev/console
case " $(cat /proc/cmdline) " in *" {POWEROFF_FLAG} "*) poweroff -f ;; esac
while true; do setsid cttyhack sh; sleep 1; done
"""


def _header(entry: Entry, ino: int, namesize: int) -> bytes:
    """The 110-byte ASCII header of a newc member."""
    fields = [ino, entry.mode, 0, 0, 1, 0, len(entry.data), 0, 0, *entry.rdev, namesize, 0]
    return b"070701" + b"".join(f"{value:08x}".encode() for value in fields)


def _pad(data: bytes) -> bytes:
    """newc aligns headers and file data to 4 bytes."""
    return data + b"\0" * (-len(data) % 4)


def newc_archive(entries: Iterable[Entry]) -> bytes:
    """Pack entries as a newc cpio archive, the format the kernel unpacks into rootfs.

    Written here rather than with ``cpio`` so that device nodes need no root and the
    output is byte-for-byte reproducible.
    """
    parts: list[bytes] = []
    for ino, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.name.encode() + b"\0"
        parts.append(_pad(_header(entry, ino, len(name)) + name))
        parts.append(_pad(entry.data))
    return b"".join(parts)


def directory(name: str) -> Entry:
    """A directory member."""
    return Entry(name, stat.S_IFDIR | 0o755)


def regular(name: str, data: bytes, mode: int = 0o644) -> Entry:
    """A regular file member."""
    return Entry(name, stat.S_IFREG | mode, data)


def build_initramfs(busybox: bytes, modules: Mapping[str, bytes]) -> bytes:
    """A gzip'd initramfs with busybox, the modules (in load order) and ``/init``."""
    folders = ["bin", "dev", "proc", "sys", "tmp", "etc", "lib", "lib/modules"]
    entries = [directory(name) for name in folders]
    entries.append(Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(regular("bin/busybox", busybox, 0o755))
    entries += [regular(f"lib/modules/{name}.ko", ko) for name, ko in modules.items()]
    entries.append(regular("init", init_script(list(modules)).encode(), 0o755))
    # mtime 0 keeps the output reproducible; level 6 decompresses fast under TCG.
    return gzip.compress(newc_archive(entries), compresslevel=6, mtime=0)
