"""``FakeBlockStore``: the ``BlockStore`` contract in memory, for tests.

It passes the same contract suite as ``RbdBlockStore``. Images are sparse (only chunks
ever written are stored, so a 10 GiB image costs nothing) and clones are copy-on-write:
a chunk a clone never wrote is read from its parent snapshot. ``fail`` injects an error
into the next call(s) of a method, as every in-package fake does.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from activities.faults import Faults
from activities.storage.block import IMAGES, VMS, VOLUMES, RbdRef
from activities.storage.image_file import check_format, nonzero_chunks, to_raw
from nimbus.errors import Conflict, InvalidSpec, NotFound

CHUNK = 64 << 10
ZERO = bytes(CHUNK)


@dataclass
class Layer:
    """An image's contents, or a snapshot's frozen copy of them.

    Attributes:
        size: bytes.
        chunks: chunk index -> ``CHUNK`` bytes, for chunks written (or copied up) here.
        parent: the snapshot unwritten chunks are read from, for a clone.
        overlap: how many bytes of the parent the clone sees (its size at clone time).
    """

    size: int
    chunks: dict[int, bytes] = field(default_factory=dict)
    parent: RbdRef | None = None
    overlap: int = 0


@dataclass
class FakeImage:
    """An image: its live layer and its snapshots (name -> layer), some protected."""

    head: Layer
    snaps: dict[str, Layer] = field(default_factory=dict)
    protected: set[str] = field(default_factory=set)


class FakeBlockStore:
    """In-memory pools of images; every method is thread-safe and checks injected failures
    first."""

    def __init__(self, pools: tuple[str, ...] = (IMAGES, VOLUMES, VMS)) -> None:
        self.pools: dict[str, dict[str, FakeImage]] = {pool: {} for pool in pools}
        self.faults = Faults()
        self._lock = threading.RLock()

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` before doing anything."""
        self.faults.fail(method, error, times)

    # -- lookups ----------------------------------------------------------------------

    def _pool(self, pool: str) -> dict[str, FakeImage]:
        if pool not in self.pools:
            raise NotFound(f"pool {pool} does not exist")
        return self.pools[pool]

    def _image(self, ref: RbdRef) -> FakeImage:
        """The image ``ref`` names (ignoring ``snap``); ``NotFound`` if missing."""
        image = self._pool(ref.pool).get(ref.name)
        if image is None:
            raise NotFound(f"{ref.image()} does not exist")
        return image

    def _layer(self, ref: RbdRef) -> Layer:
        """The image's live layer, or its snapshot's with ``snap``; ``NotFound`` if missing."""
        image = self._image(ref)
        if ref.snap is None:
            return image.head
        if ref.snap not in image.snaps:
            raise NotFound(f"{ref} does not exist")
        return image.snaps[ref.snap]

    # -- sparse copy-on-write data ----------------------------------------------------

    def _chunk(self, layer: Layer, index: int) -> bytes:
        """Chunk ``index`` as the layer sees it: its own, its parent's, or zeroes."""
        if index in layer.chunks:
            return layer.chunks[index]
        start = index * CHUNK
        if layer.parent is None or start >= layer.overlap:
            return ZERO
        data = self._chunk(self._layer(layer.parent), index)
        visible = layer.overlap - start
        return data if visible >= CHUNK else data[:visible] + bytes(CHUNK - visible)

    def _read(self, layer: Layer, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (within the layer's size)."""
        out = bytearray()
        for index in range(offset // CHUNK, (offset + length - 1) // CHUNK + 1):
            out += self._chunk(layer, index)
        skip = offset % CHUNK
        return bytes(out[skip : skip + length])

    def _write(self, layer: Layer, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset``, copying up the parent's part of partial chunks."""
        if offset < 0 or offset + len(data) > layer.size:
            raise InvalidSpec(f"write of {len(data)} bytes at {offset} is beyond the image")
        done = 0
        while done < len(data):
            index, start = divmod(offset + done, CHUNK)
            piece = data[done : done + CHUNK - start]
            chunk = bytearray(self._chunk(layer, index))
            chunk[start : start + len(piece)] = piece
            layer.chunks[index] = bytes(chunk)
            done += len(piece)

    # -- the contract -------------------------------------------------------------------

    def exists(self, ref: RbdRef) -> bool:
        """See ``BlockStore.exists``."""
        self.faults.check("exists")
        with self._lock:
            try:
                self._layer(ref)
            except NotFound:
                return False
            return True

    def names(self, pool: str) -> list[str]:
        """See ``BlockStore.names``."""
        self.faults.check("names")
        with self._lock:
            return sorted(self._pool(pool))

    def size(self, ref: RbdRef) -> int:
        """See ``BlockStore.size``."""
        self.faults.check("size")
        with self._lock:
            return self._layer(ref).size

    def create(self, ref: RbdRef, size_bytes: int) -> None:
        """See ``BlockStore.create``."""
        self.faults.check("create")
        with self._lock:
            pool = self._pool(ref.pool)
            existing = pool.get(ref.name)
            if existing is not None and existing.head.size != size_bytes:
                raise Conflict(f"{ref} exists with {existing.head.size} bytes")
            pool.setdefault(ref.name, FakeImage(Layer(size_bytes)))

    def import_file(self, ref: RbdRef, path: str, disk_format: str) -> int:
        """See ``BlockStore.import_file``; the image appears only once complete."""
        self.faults.check("import_file")
        size = check_format(path, disk_format)
        self.delete(ref.image())
        layer = Layer(size)
        if disk_format == "qcow2":
            with tempfile.TemporaryDirectory() as tmp:
                raw = str(Path(tmp) / "image.raw")
                to_raw(path, raw)
                self._fill(layer, raw)
        else:
            self._fill(layer, path)
        with self._lock:
            self._pool(ref.pool)[ref.name] = FakeImage(layer)
        return size

    def _fill(self, layer: Layer, raw_path: str) -> None:
        for offset, data in nonzero_chunks(raw_path):
            self._write(layer, offset, data)

    def write(self, ref: RbdRef, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (not in the contract; for tools and tests)."""
        self.faults.check("write")
        with self._lock:
            self._write(self._image(ref).head, offset, data)

    def read(self, ref: RbdRef, chunk_bytes: int = 4 << 20) -> Iterator[bytes]:
        """See ``BlockStore.read``. ``NotFound`` is raised at the call, not when iterated."""
        self.faults.check("read")
        with self._lock:
            layer = self._layer(ref)
            # Later writes to the image must not show in a read already under way.
            frozen = dataclasses.replace(layer, chunks=dict(layer.chunks))
        return self._chunks(frozen, chunk_bytes)

    def _chunks(self, layer: Layer, chunk_bytes: int) -> Iterator[bytes]:
        for offset in range(0, layer.size, chunk_bytes):
            with self._lock:
                data = self._read(layer, offset, min(chunk_bytes, layer.size - offset))
            yield data

    def resize(self, ref: RbdRef, size_bytes: int) -> None:
        """See ``BlockStore.resize``."""
        self.faults.check("resize")
        with self._lock:
            head = self._image(ref).head
            if size_bytes < head.size:
                raise InvalidSpec(f"{ref} is {head.size} bytes; shrinking is refused")
            head.size = size_bytes

    def snapshot(self, ref: RbdRef) -> None:
        """See ``BlockStore.snapshot``."""
        self.faults.check("snapshot")
        snap = _snap_of(ref)
        with self._lock:
            image = self._image(ref)
            if snap not in image.snaps:
                image.snaps[snap] = dataclasses.replace(image.head, chunks=dict(image.head.chunks))
            image.protected.add(snap)

    def rollback(self, ref: RbdRef) -> None:
        """See ``BlockStore.rollback``."""
        self.faults.check("rollback")
        snap = _snap_of(ref)
        with self._lock:
            image = self._image(ref.image())
            if snap not in image.snaps:
                raise NotFound(f"no snapshot {ref}")
            frozen = image.snaps[snap]
            image.head = dataclasses.replace(frozen, chunks=dict(frozen.chunks))

    def remove_snapshot(self, ref: RbdRef) -> None:
        """See ``BlockStore.remove_snapshot``."""
        self.faults.check("remove_snapshot")
        snap = _snap_of(ref)
        with self._lock:
            image = self.pools.get(ref.pool, {}).get(ref.name)
            if image is None or snap not in image.snaps:
                return
            self._require_no_children(ref)
            image.protected.discard(snap)
            del image.snaps[snap]

    def _require_no_children(self, ref: RbdRef) -> None:
        children = self._children(ref)
        if children:
            raise Conflict(f"{ref} has clones: {', '.join(map(str, children))}")

    def clone(self, parent: RbdRef, child: RbdRef, size_bytes: int = 0) -> None:
        """See ``BlockStore.clone``."""
        self.faults.check("clone")
        snap = _snap_of(parent)
        with self._lock:
            source = self._layer(parent)
            if snap not in self._image(parent).protected:
                raise Conflict(f"{parent} is not protected")
            pool = self._pool(child.pool)
            existing = pool.get(child.name)
            if (
                existing is not None
                and existing.head.parent is None
                and not existing.head.chunks
                and not existing.snaps
            ):
                del pool[child.name]  # what a clone killed before it was linked leaves
                existing = None
            if existing is not None and existing.head.parent != parent:
                raise Conflict(f"{child} exists with parent {existing.head.parent}")
            if existing is None:
                layer = Layer(source.size, parent=parent, overlap=source.size)
                existing = pool[child.name] = FakeImage(layer)
            existing.head.size = max(existing.head.size, size_bytes)

    def parent(self, ref: RbdRef) -> RbdRef | None:
        """See ``BlockStore.parent``."""
        self.faults.check("parent")
        with self._lock:
            return self._image(ref).head.parent

    def children(self, ref: RbdRef) -> list[RbdRef]:
        """See ``BlockStore.children``; a missing image or snapshot has none."""
        self.faults.check("children")
        _snap_of(ref)
        with self._lock:
            return self._children(ref)

    def _children(self, ref: RbdRef) -> list[RbdRef]:
        """Images any of whose layers (live or snapshot) reads from ``ref``."""
        return [
            RbdRef(pool, name)
            for pool, images in self.pools.items()
            for name, image in images.items()
            if any(layer.parent == ref for layer in (image.head, *image.snaps.values()))
        ]

    def is_blank(self, ref: RbdRef) -> bool:
        """See ``BlockStore.is_blank``."""
        self.faults.check("is_blank")
        with self._lock:
            head = self._image(ref).head
            return head.parent is None and not head.chunks

    def flatten(self, ref: RbdRef) -> None:
        """See ``BlockStore.flatten``."""
        self.faults.check("flatten")
        with self._lock:
            head = self._image(ref).head
            if head.parent is None:
                return
            for index in range(0, (head.overlap + CHUNK - 1) // CHUNK):
                if index not in head.chunks and self._chunk(head, index) != ZERO:
                    head.chunks[index] = self._chunk(head, index)
            head.parent, head.overlap = None, 0

    def delete(self, ref: RbdRef) -> None:
        """See ``BlockStore.delete``."""
        self.faults.check("delete")
        with self._lock:
            images = self.pools.get(ref.pool, {})
            image = images.get(ref.name)
            if image is None:
                return
            for snap in image.snaps:
                self._require_no_children(ref.at(snap))
            del images[ref.name]


def _snap_of(ref: RbdRef) -> str:
    """The snapshot a snapshot operation is about; ``InvalidSpec`` without one."""
    if not ref.snap:
        raise InvalidSpec(f"{ref} names no snapshot")
    return ref.snap
