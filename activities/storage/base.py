"""The disk driver contract: root disks as copy-on-write children of an image."""

from __future__ import annotations

from typing import Protocol


class DiskDriver(Protocol):
    """Makes and removes the root disks of servers on one host."""

    def create_overlay(self, disk_id: str, image_path: str, size_gib: int) -> str:
        """Create a copy-on-write disk backed by ``image_path``; return its path.

        The disk's virtual size is ``size_gib`` GiB, or the image's size if that is larger
        (or if ``size_gib`` is 0). Idempotent: an existing disk backed by the same image is
        returned as it is; one backed by another image raises ``Conflict``. ``NotFound`` if
        the image file is missing.
        """
        ...

    def delete(self, disk_id: str) -> None:
        """Remove the disk and its folder. A missing disk is success."""
        ...

    def exists(self, disk_id: str) -> bool:
        """Whether the disk exists."""
        ...

    def path(self, disk_id: str) -> str:
        """Where the disk is (or would be)."""
        ...
