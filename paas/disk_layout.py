"""Where things sit on a runtime image and on a droplet disk: one place for the layout.

Both are raw disks with an MBR (msdos) partition table, every partition aligned to a MiB::

    0        MBR (syslinux's mbr.bin, then the partition table)
    1 MiB    p1  FAT, active: syslinux, kernel, initramfs           BOOT_MIB
             p2  ext4 ``nimbus-rt``: the Python runtime, read-only   sized by its content
             p3  ext4 ``nimbus-app``: the staged app (droplets only)  sized by the app

The runtime image ends after p2; a droplet is a copy of it with p3 appended, so its virtual
size stays a whole number of MiB. The guest finds p2 and p3 by label, not by number.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTOR = 512
MIB = 1 << 20
#: The first partition starts here, as fdisk aligns it.
FIRST_PARTITION_MIB = 1
#: Kernel (about 8 MiB) and initramfs (about 3 MiB) with room for a newer kernel.
BOOT_MIB = 32
RUNTIME_LABEL = "nimbus-rt"
APP_LABEL = "nimbus-app"
BOOT_FAT_LABEL = "NIMBUS"
#: msdos partition types: FAT32 (LBA) for the boot partition, Linux for the others.
FAT_TYPE = "c"
LINUX_TYPE = "83"
#: An app file system is never smaller than this, so a tiny app still has room for ext4's
#: own metadata.
APP_MIN_MIB = 16
#: ext4 metadata (inode tables, directories, block bitmaps) on top of the files' bytes.
FS_OVERHEAD_PERCENT = 15
FS_MARGIN_MIB = 8


@dataclass(frozen=True)
class Partition:
    """One partition, in MiB from the start of the disk."""

    start_mib: int
    size_mib: int

    @property
    def offset(self) -> int:
        """Its first byte."""
        return self.start_mib * MIB

    @property
    def end_mib(self) -> int:
        """The first MiB after it."""
        return self.start_mib + self.size_mib

    def sfdisk_line(self, kind: str, bootable: bool = False) -> str:
        """The partition as an sfdisk script line, in sectors."""
        sectors = MIB // SECTOR
        line = f"start={self.start_mib * sectors}, size={self.size_mib * sectors}, type={kind}"
        return line + (", bootable" if bootable else "")


def mib_ceil(size: int) -> int:
    """Whole MiB needed for ``size`` bytes."""
    return -(-size // MIB)


def fs_mib(content_bytes: int, minimum: int = 0) -> int:
    """Size of an ext4 file system that holds ``content_bytes`` of files, with margin."""
    wanted = content_bytes * (100 + FS_OVERHEAD_PERCENT) // 100
    return max(minimum, mib_ceil(wanted) + FS_MARGIN_MIB)


def boot_partition() -> Partition:
    """p1, the FAT boot partition."""
    return Partition(FIRST_PARTITION_MIB, BOOT_MIB)


def runtime_partition(root_mib: int) -> Partition:
    """p2, the runtime's root file system, right after p1."""
    return Partition(boot_partition().end_mib, root_mib)


def app_partition(disk_mib: int, app_bytes: int) -> Partition:
    """p3, the app file system, appended to a runtime disk of ``disk_mib``."""
    return Partition(disk_mib, fs_mib(app_bytes, APP_MIN_MIB))


def runtime_sfdisk_script(root_mib: int) -> str:
    """The runtime image's partition table (p1 bootable FAT, p2 Linux) for sfdisk."""
    boot = boot_partition().sfdisk_line(FAT_TYPE, bootable=True)
    return f"label: dos\n{boot}\n{runtime_partition(root_mib).sfdisk_line(LINUX_TYPE)}\n"
