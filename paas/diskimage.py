"""The disk tools the runtime and droplet builds share: ext4 from a folder, sparse copies,
writing a file system into a disk at a partition's offset, partition tables. Nothing here
mounts anything or needs a loop device.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from nimbus.guestimage import GuestImageError, run
from paas.disk_layout import MIB, Partition

#: syslinux-common's boot code: it boots the active partition's boot sector.
MBR_CODE = Path("/usr/lib/syslinux/mbr/mbr.bin")
#: The MBR's boot code area ends where the disk signature and partition table begin.
MBR_CODE_BYTES = 440


def tree_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (symlinks count as their own size)."""
    total = 0
    for parent, _dirs, files in os.walk(folder):
        total += sum(os.lstat(os.path.join(parent, name)).st_size for name in files)
    return total


def make_ext4(source: Path, out: Path, label: str, size_mib: int) -> Path:
    """An ext4 file system of ``size_mib`` at ``out`` holding a copy of ``source``.

    No journal: the guest mounts it read-only, so there is nothing to replay and the space
    stays the file system's. Symlinks are copied as links, never followed; files keep their
    modes and owners, and the top folder is root's.
    """
    out.unlink(missing_ok=True)
    run(
        "mkfs.ext4", "-q", "-F", "-L", label, "-O", "^has_journal",
        "-E", "root_owner=0:0", "-d", source, out, f"{size_mib}M",
    )  # fmt: skip
    return out


def sparse_copy(source: Path, out: Path) -> None:
    """Copy ``source`` to ``out`` keeping its holes, so a copy costs only its data."""
    run("cp", "--sparse=always", source, out)


def grow(disk: Path, size_mib: int) -> None:
    """Make ``disk`` ``size_mib`` long, creating it if missing; the added part is a hole."""
    with disk.open("ab") as f:
        f.truncate(size_mib * MIB)


def write_at(fs: Path, disk: Path, part: Partition) -> None:
    """Write the file system ``fs`` into ``disk`` at ``part``; its zero blocks stay holes."""
    if fs.stat().st_size > part.size_mib * MIB:
        raise ValueError(f"{fs} does not fit in {part.size_mib} MiB")
    run(
        "dd", f"if={fs}", f"of={disk}", "bs=1M", f"seek={part.start_mib}",
        "conv=notrunc,sparse", "status=none",
    )  # fmt: skip


def partition(disk: Path, script: str, append: bool = False) -> None:
    """Write (or with ``append`` extend) ``disk``'s partition table from an sfdisk script."""
    args = ["sfdisk", "-q", "--no-reread", "--no-tell-kernel", *(["--append"] if append else [])]
    proc = subprocess.run([*args, str(disk)], input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GuestImageError(f"sfdisk {disk}: {proc.stderr.strip()}")


def install_mbr(disk: Path, code: Path = MBR_CODE) -> None:
    """Put the boot code into the MBR, leaving the partition table as it is."""
    boot = code.read_bytes()[:MBR_CODE_BYTES]
    with disk.open("r+b") as f:
        f.write(boot)
