"""``FakeDiskDriver``: the ``DiskDriver`` contract in memory, for tests.

Passes the same contract suite as ``QcowDiskDriver``; ``fail`` injects an error into the
next call(s) of a method. Image files must exist on disk (``NotFound`` otherwise), as for
the real driver, so tests exercise the same missing-image path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from activities.faults import Faults
from nimbus.errors import Conflict, InvalidSpec, NotFound

GIB = 1 << 30


@dataclass(frozen=True)
class FakeDisk:
    """One disk: what backs it and how large it is."""

    image_path: str
    size_bytes: int


class FakeDiskDriver:
    """In-memory disks under a pretend ``root``; thread-safe."""

    def __init__(self, root: Path = Path("/fake-disks")) -> None:
        self.root = root
        self.disks: dict[str, FakeDisk] = {}
        self.faults = Faults()
        self._lock = threading.Lock()

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` before doing anything."""
        self.faults.fail(method, error, times)

    def path(self, disk_id: str) -> str:
        """See ``DiskDriver.path``."""
        if not disk_id or "/" in disk_id or disk_id in (".", ".."):
            raise InvalidSpec(f"bad disk id {disk_id!r}")
        return str(self.root / disk_id / "disk")

    def exists(self, disk_id: str) -> bool:
        """See ``DiskDriver.exists``."""
        self.faults.check("exists")
        with self._lock:
            return disk_id in self.disks

    def create_overlay(self, disk_id: str, image_path: str, size_gib: int) -> str:
        """See ``DiskDriver.create_overlay``."""
        self.faults.check("create_overlay")
        image = Path(image_path).absolute()
        if not image.is_file():
            raise NotFound(f"image {image} does not exist")
        with self._lock:
            disk = self.disks.get(disk_id)
            if disk is not None and disk.image_path != str(image):
                raise Conflict(f"disk {disk_id} exists backed by {disk.image_path}")
            size = max(size_gib * GIB, image.stat().st_size)
            self.disks.setdefault(disk_id, FakeDisk(str(image), size))
        return self.path(disk_id)

    def size_bytes(self, disk_id: str) -> int:
        """The disk's virtual size (what ``qemu-img info`` reports for a real disk)."""
        with self._lock:
            return self.disks[disk_id].size_bytes

    def delete(self, disk_id: str) -> None:
        """See ``DiskDriver.delete``."""
        self.faults.check("delete")
        with self._lock:
            self.disks.pop(disk_id, None)
