"""The block store contract: RBD-style images, snapshots and copy-on-write clones.

One store holds Glance images (pool ``images``: ``<image id>`` with protected snapshot
``snap``), server root disks (pool ``vms``: ``<server id>_disk``, cloned from an image's
snapshot) and Cinder volumes (pool ``volumes``: ``volume-<volume id>``, snapshots
``snapshot-<snapshot id>``). Every method is idempotent and translates backend errors into
``nimbus.errors`` at the driver boundary; ``BackendUnavailable`` is the only retryable one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

IMAGES, VOLUMES, VMS = "images", "volumes", "vms"
GIB = 1 << 30
IMAGE_SNAP = "snap"


@dataclass(frozen=True)
class RbdRef:
    """An image in a pool, or one of its snapshots when ``snap`` is set."""

    pool: str
    name: str
    snap: str | None = None

    def __str__(self) -> str:
        return f"{self.pool}/{self.name}" + (f"@{self.snap}" if self.snap else "")

    @classmethod
    def parse(cls, text: str) -> RbdRef:
        """``pool/name`` or ``pool/name@snap``, as ``str()`` writes it."""
        pool, _, rest = text.partition("/")
        name, _, snap = rest.partition("@")
        if not pool or not name:
            raise ValueError(f"not an RBD reference: {text!r}")
        return cls(pool, name, snap or None)

    def image(self) -> RbdRef:
        """The image itself, without the snapshot."""
        return RbdRef(self.pool, self.name)

    def at(self, snap: str) -> RbdRef:
        return RbdRef(self.pool, self.name, snap)


def image_ref(image_id: str) -> RbdRef:
    """Where a Glance image lives: its protected snapshot, the parent of every clone."""
    return RbdRef(IMAGES, image_id, IMAGE_SNAP)


def root_disk_ref(server_id: str) -> RbdRef:
    return RbdRef(VMS, f"{server_id}_disk")


def volume_ref(volume_id: str) -> RbdRef:
    return RbdRef(VOLUMES, f"volume-{volume_id}")


class BlockStore(Protocol):
    """Images, snapshots and clones in pools (Ceph RBD, or the in-memory fake)."""

    def exists(self, ref: RbdRef) -> bool:
        """Whether the image (or, with ``snap``, the snapshot) exists."""
        ...

    def names(self, pool: str) -> list[str]:
        """The names of the images in ``pool``, sorted (what a reconcile compares with
        the rows); ``NotFound`` if the pool does not exist."""
        ...

    def size(self, ref: RbdRef) -> int:
        """The image's size in bytes; ``NotFound`` if missing."""
        ...

    def create(self, ref: RbdRef, size_bytes: int) -> None:
        """Create an empty image. Idempotent: an existing image of that size is success;
        of another size, ``Conflict``."""
        ...

    def import_file(self, ref: RbdRef, path: str, disk_format: str) -> int:
        """Write a local file into a new image, converting ``qcow2`` to raw on the way
        (``raw`` is copied as it is, skipping zeroes so the image stays sparse). Streams:
        never holds the whole file in memory. Replaces a partial image a crashed earlier
        attempt left. Returns the image's (virtual) size in bytes. ``InvalidSpec`` if the
        file is not of that format; ``NotFound`` if the file is missing."""
        ...

    def read(self, ref: RbdRef, chunk_bytes: int = 4 << 20) -> Iterator[bytes]:
        """The image's bytes, in chunks; ``NotFound`` if missing."""
        ...

    def resize(self, ref: RbdRef, size_bytes: int) -> None:
        """Grow the image to ``size_bytes``; the same size is success; shrinking is
        ``InvalidSpec``."""
        ...

    def snapshot(self, ref: RbdRef) -> None:
        """Create and protect snapshot ``ref.snap``; an existing one is success."""
        ...

    def rollback(self, ref: RbdRef) -> None:
        """Put the image back as it was at snapshot ``ref.snap``, its size included (the
        image must not be in use); ``NotFound`` if the snapshot is missing."""
        ...

    def remove_snapshot(self, ref: RbdRef) -> None:
        """Unprotect and remove snapshot ``ref.snap``; missing is success; ``Conflict`` if
        clones still depend on it."""
        ...

    def clone(self, parent: RbdRef, child: RbdRef, size_bytes: int = 0) -> None:
        """Create ``child`` as a copy-on-write clone of the protected snapshot ``parent``,
        grown to ``size_bytes`` if that is larger than the parent. Idempotent: a child of the
        same parent is success; one with another parent, or none and data of its own, is
        ``Conflict``; a parentless child that holds no data (what a clone killed half-way
        leaves) is replaced; ``NotFound`` if the parent snapshot is missing."""
        ...

    def parent(self, ref: RbdRef) -> RbdRef | None:
        """The snapshot the image was cloned from, or ``None``; ``NotFound`` if missing."""
        ...

    def children(self, ref: RbdRef) -> list[RbdRef]:
        """The clones of snapshot ``ref.snap``."""
        ...

    def is_blank(self, ref: RbdRef) -> bool:
        """True if no byte of the image, its parent's included, was ever written."""
        ...

    def flatten(self, ref: RbdRef) -> None:
        """Copy the parent's data into the clone so it no longer depends on it."""
        ...

    def delete(self, ref: RbdRef) -> None:
        """Remove the image with its snapshots (and what a crashed ``import_file`` of it
        left). Missing is success. ``Conflict`` if a snapshot still has clones (nothing is
        removed then); ``BackendUnavailable`` while the image is still open elsewhere."""
        ...
