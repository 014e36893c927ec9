"""``RbdBlockStore``: the ``BlockStore`` contract on Ceph RBD, through python-rados/rbd.

One cluster connection per store, opened on first use and reopened after it broke, shared
by the activity threads (librados is thread-safe; each call opens its own image handle).
Every librados call is bounded by the store's ``timeout`` (mount, mon and OSD op timeouts),
because a call against a broken cluster otherwise hangs. Backend errors become
``nimbus.errors`` in one place, ``translate``. Images are made with the ``layering``
feature only, which is all copy-on-write clones need and what every client understands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import rados
import rbd

from activities.storage.block import RbdRef
from activities.storage.image_file import CHUNK, check_format, nonzero_chunks, qemu_img
from nimbus.errors import BackendUnavailable, Conflict, InvalidSpec, NimbusError, NotFound

LAYERING = rbd.RBD_FEATURE_LAYERING
NOT_FOUND = (rbd.ImageNotFound, rados.ObjectNotFound)
CONFLICT = (
    rbd.ImageExists,
    rbd.ImageHasSnapshots,
    rbd.ReadOnlyImage,
    rados.ObjectExists,
    rados.ObjectBusy,
)
#: How long a clone found without a parent may still be in the making (see ``clone``).
CLONE_SETTLE_SECONDS = 2.0
INVALID = (rbd.InvalidArgument, rbd.ArgumentOutOfRange, rados.InvalidArgumentError)


def translate(exc: Exception, what: object) -> NimbusError:
    """The ``nimbus.errors`` twin of a librados/librbd error about ``what``. Anything not
    about the object itself (timeouts, lost connections, EIO, permissions) is
    ``BackendUnavailable``, the one retryable error."""
    if isinstance(exc, NOT_FOUND):
        return NotFound(f"{what} does not exist")
    if isinstance(exc, CONFLICT):
        return Conflict(f"{what}: {exc}")
    if isinstance(exc, INVALID):
        return InvalidSpec(f"{what}: {exc}")
    return BackendUnavailable(f"ceph, {what}: {exc}")


def partial_ref(ref: RbdRef) -> RbdRef:
    """Where an import is written before it is renamed into place."""
    return RbdRef(ref.pool, f"{ref.name}.importing")


class RbdBlockStore:
    """Images, snapshots and clones in a Ceph cluster reached with a conf and a keyring."""

    def __init__(self, conf: str, keyring: str, client: str = "admin", timeout: float = 30):
        self.conf = str(conf)
        self.keyring = str(keyring)
        self.client = client
        self.timeout = timeout
        self._cluster: Any = None
        self._lock = threading.Lock()

    # -- connection and error handling ------------------------------------------------

    def _options(self) -> dict[str, str]:
        """librados settings bounding every call by the store's timeout."""
        seconds = str(max(1, int(self.timeout)))
        return {
            "keyring": self.keyring,
            "client_mount_timeout": seconds,
            "rados_mon_op_timeout": seconds,
            "rados_osd_op_timeout": seconds,
        }

    def _connection(self) -> Any:
        """The shared cluster connection, connecting on first use."""
        with self._lock:
            if self._cluster is None:
                cluster = rados.Rados(
                    conffile=self.conf, name=f"client.{self.client}", conf=self._options()
                )
                try:
                    cluster.connect(timeout=max(1, int(self.timeout)))
                except rados.Error:
                    cluster.shutdown()
                    raise
                self._cluster = cluster
            return self._cluster

    def _forget_connection(self) -> None:
        """Drop a connection that failed, so the next call reconnects. Not shut down here:
        other threads may still use it; it closes when the last of them lets go."""
        with self._lock:
            self._cluster = None

    @contextmanager
    def _errors(self, what: object) -> Iterator[None]:
        """Translate backend errors raised in the block; forget a broken connection."""
        try:
            yield
        except (rados.Error, rbd.Error) as exc:
            error = translate(exc, what)
            if isinstance(error, BackendUnavailable):
                self._forget_connection()
            raise error from exc

    @contextmanager
    def _pool(self, pool: str) -> Iterator[Any]:
        """An I/O context on ``pool``; ``NotFound`` if the pool does not exist."""
        with self._errors(f"pool {pool}"):
            ioctx = self._connection().open_ioctx(pool)
        try:
            yield ioctx
        finally:
            ioctx.close()

    @contextmanager
    def _image(self, ref: RbdRef, writable: bool = False) -> Iterator[Any]:
        """The image opened (at ``ref.snap`` if set); read-only unless ``writable``.
        Errors inside the block are translated too."""
        with self._pool(ref.pool) as ioctx, self._errors(ref):
            snap = None if writable else ref.snap
            with rbd.Image(ioctx, ref.name, snapshot=snap, read_only=not writable) as image:
                yield image

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        with self._lock:
            cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.shutdown()

    # -- the contract -------------------------------------------------------------------

    def exists(self, ref: RbdRef) -> bool:
        """See ``BlockStore.exists``."""
        try:
            with self._image(ref):
                return True
        except NotFound:
            return False

    def names(self, pool: str) -> list[str]:
        """See ``BlockStore.names``."""
        with self._pool(pool) as ioctx, self._errors(f"pool {pool}"):
            return sorted(str(name) for name in rbd.RBD().list(ioctx))

    def size(self, ref: RbdRef) -> int:
        """See ``BlockStore.size``."""
        with self._image(ref) as image:
            return int(image.size())

    def create(self, ref: RbdRef, size_bytes: int) -> None:
        """See ``BlockStore.create``."""
        try:
            with self._pool(ref.pool) as ioctx, self._errors(ref):
                rbd.RBD().create(ioctx, ref.name, size_bytes, old_format=False, features=LAYERING)
        except Conflict:
            existing = self.size(ref.image())
            if existing != size_bytes:
                raise Conflict(f"{ref} exists with {existing} bytes, not {size_bytes}") from None

    def import_file(self, ref: RbdRef, path: str, disk_format: str) -> int:
        """See ``BlockStore.import_file``. Written under ``<name>.importing`` and renamed
        into place, so an image under its real name is always complete."""
        size = check_format(path, disk_format)
        self.delete(ref.image())
        partial = partial_ref(ref)
        self.delete(partial)
        if disk_format == "qcow2":
            self._convert_qcow2(path, partial)
        else:
            self._write_raw(path, partial, size)
        with self._pool(ref.pool) as ioctx, self._errors(ref):
            rbd.RBD().rename(ioctx, partial.name, ref.name)
        return size

    def _rbd_target(self, ref: RbdRef) -> str:
        """QEMU's ``rbd:`` filename for ``ref``, with our identity and timeouts."""
        options = {"id": self.client, "conf": self.conf, **self._options()}
        options["rbd_default_features"] = str(LAYERING)
        escaped = (str(v).replace("\\", "\\\\").replace(":", "\\:") for v in options.values())
        pairs = ":".join(f"{k}={v}" for k, v in zip(options, escaped, strict=True))
        return f"rbd:{ref.pool}/{ref.name}:{pairs}"

    def _convert_qcow2(self, path: str, ref: RbdRef) -> None:
        """Let ``qemu-img`` write the raw contents straight into a new image (sparse)."""
        try:
            qemu_img(
                "convert", "-f", "qcow2", "-O", "raw", path, self._rbd_target(ref), timeout=None
            )
        except InvalidSpec as exc:
            # The file was checked already: a failure now is the cluster's.
            raise BackendUnavailable(str(exc)) from exc

    def _write_raw(self, path: str, ref: RbdRef, size: int) -> None:
        """Create the image and copy the file's non-zero chunks into it."""
        self.create(ref, size)
        with self._image(ref, writable=True) as image:
            for offset, data in nonzero_chunks(path):
                image.write(data, offset)

    def write(self, ref: RbdRef, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (not in the contract; for tools and tests)."""
        with self._image(ref, writable=True) as image:
            image.write(data, offset)

    def read(self, ref: RbdRef, chunk_bytes: int = CHUNK) -> Iterator[bytes]:
        """See ``BlockStore.read``. ``NotFound`` is raised at the call, not when iterated."""
        size = self.size(ref)
        return self._chunks(ref, size, chunk_bytes)

    def _chunks(self, ref: RbdRef, size: int, chunk_bytes: int) -> Iterator[bytes]:
        with self._image(ref) as image:
            for offset in range(0, size, chunk_bytes):
                yield bytes(image.read(offset, min(chunk_bytes, size - offset)))

    def resize(self, ref: RbdRef, size_bytes: int) -> None:
        """See ``BlockStore.resize``."""
        with self._image(ref.image(), writable=True) as image:
            current = int(image.size())
            if size_bytes < current:
                raise InvalidSpec(f"{ref} is {current} bytes; shrinking to {size_bytes} is refused")
            if size_bytes > current:
                image.resize(size_bytes)

    def snapshot(self, ref: RbdRef) -> None:
        """See ``BlockStore.snapshot``."""
        snap = _snap_of(ref)
        with self._image(ref.image(), writable=True) as image:
            if snap not in _snap_names(image):
                image.create_snap(snap)
            if not image.is_protected_snap(snap):
                image.protect_snap(snap)

    def rollback(self, ref: RbdRef) -> None:
        """See ``BlockStore.rollback``."""
        snap = _snap_of(ref)
        with self._image(ref.image(), writable=True) as image:
            if snap not in _snap_names(image):
                raise NotFound(f"no snapshot {ref}")
            image.rollback_to_snap(snap)

    def remove_snapshot(self, ref: RbdRef) -> None:
        """See ``BlockStore.remove_snapshot``."""
        snap = _snap_of(ref)
        try:
            with self._image(ref.image(), writable=True) as image:
                if snap in _snap_names(image):
                    self._remove_snap(image, ref.at(snap))
        except NotFound:
            return

    def _remove_snap(self, image: Any, ref: RbdRef) -> None:
        """Unprotect (``Conflict`` while clones depend on it) and remove one snapshot."""
        if image.is_protected_snap(ref.snap):
            children = self.children(ref)
            if children:
                raise Conflict(f"{ref} has clones: {', '.join(map(str, children))}")
            image.unprotect_snap(ref.snap)
        image.remove_snap(ref.snap)

    def clone(self, parent: RbdRef, child: RbdRef, size_bytes: int = 0) -> None:
        """See ``BlockStore.clone``. Only a protected snapshot is cloned: the protection is
        what keeps the parent from being removed under its clones."""
        snap = _snap_of(parent)
        with self._image(parent) as image:
            if not image.is_protected_snap(snap):
                raise Conflict(f"{parent} is not protected")
        try:
            with self._pool(parent.pool) as pio, self._pool(child.pool) as cio, self._errors(child):
                rbd.RBD().clone(pio, parent.name, snap, cio, child.name, features=LAYERING)
        except Conflict:
            self._require_parent(child, parent)
        self._grow(child, size_bytes)

    def _require_parent(self, child: RbdRef, parent: RbdRef) -> None:
        """An existing ``child`` is ours only if it was cloned from ``parent``. librbd
        creates a clone's header before linking it to its parent, so a clone another
        caller is making right now shows no parent (or does not even open) for a moment:
        give it that moment. One that stays parentless and holds no data, or stays
        unopenable, is what a clone killed in between leaves behind: it is removed and the
        clone made again."""
        deadline = time.monotonic() + CLONE_SETTLE_SECONDS
        while (actual := self._parent_if_open(child)) in (None, _UNOPENABLE):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if actual is _UNOPENABLE or (actual is None and self.is_blank(child)):
            self.delete(child)
            with self._pool(parent.pool) as pio, self._pool(child.pool) as cio, self._errors(child):
                rbd.RBD().clone(
                    pio, parent.name, _snap_of(parent), cio, child.name, features=LAYERING
                )
            return
        if actual != parent:
            raise Conflict(f"{child} exists with parent {actual}, not {parent}")

    def _parent_if_open(self, ref: RbdRef) -> RbdRef | None | object:
        """``parent``, or ``_UNOPENABLE`` for a name the pool lists whose image does not
        open: what a create or clone killed between adding the name to the pool's
        directory and writing the image's header leaves behind."""
        try:
            return self.parent(ref)
        except NotFound:
            return _UNOPENABLE

    def is_blank(self, ref: RbdRef) -> bool:
        """See ``BlockStore.is_blank``: no allocated extent, the parent's included."""
        extents: list[int] = []
        with self._image(ref) as image:
            image.diff_iterate(0, image.size(), None, lambda off, n, exists: extents.append(n))
        return not extents

    def _grow(self, ref: RbdRef, size_bytes: int) -> None:
        """Grow the image to ``size_bytes`` if it is smaller; never shrink it."""
        if size_bytes > self.size(ref):
            self.resize(ref, size_bytes)

    def parent(self, ref: RbdRef) -> RbdRef | None:
        """See ``BlockStore.parent``."""
        with self._image(ref.image()) as image:
            try:
                spec = image.get_parent_image_spec()
            except rbd.ImageNotFound:
                return None
        return RbdRef(spec["pool_name"], spec["image_name"], spec["snap_name"])

    def children(self, ref: RbdRef) -> list[RbdRef]:
        """See ``BlockStore.children``; a missing image or snapshot has none."""
        _snap_of(ref)
        try:
            with self._image(ref) as image:
                listed = image.list_children2()
        except NotFound:
            return []
        return [RbdRef(c["pool"], c["image"]) for c in listed if not c.get("trash")]

    def flatten(self, ref: RbdRef) -> None:
        """See ``BlockStore.flatten``; an image without a parent is left as it is."""
        if self.parent(ref) is None:
            return
        with self._image(ref.image(), writable=True) as image:
            image.flatten()

    def delete(self, ref: RbdRef) -> None:
        """See ``BlockStore.delete``. An import of the image left half-written by a crash
        (``<name>.importing``) goes with it. A busy image (still open, e.g. by a client
        that died and whose watch has not yet expired) is ``BackendUnavailable``: retry."""
        if not ref.name.endswith(".importing"):
            self.delete(partial_ref(ref.image()))
        image_ref = ref.image()
        try:
            with self._image(image_ref, writable=True) as image:
                self._remove_all_snaps(image, image_ref)
        except NotFound:
            pass  # none, or a name left without a header by a killed create: removed below
        try:
            with self._pool(ref.pool) as ioctx, self._errors(image_ref):
                rbd.RBD().remove(ioctx, ref.name)
        except NotFound:
            return

    def _remove_all_snaps(self, image: Any, ref: RbdRef) -> None:
        """Remove every snapshot, after checking none has clones (else nothing changes)."""
        snaps = [ref.at(name) for name in _snap_names(image)]
        for snap in snaps:
            children = self.children(snap)
            if children:
                raise Conflict(f"{snap} has clones: {', '.join(map(str, children))}")
        for snap in snaps:
            self._remove_snap(image, snap)


#: What ``_parent_if_open`` answers for an image that is listed but does not open.
_UNOPENABLE = object()


def _snap_of(ref: RbdRef) -> str:
    """The snapshot a snapshot operation is about; ``InvalidSpec`` without one."""
    if not ref.snap:
        raise InvalidSpec(f"{ref} names no snapshot")
    return ref.snap


def _snap_names(image: Any) -> list[str]:
    """The names of the image's (user) snapshots."""
    return [s["name"] for s in image.list_snaps()]
