"""Image activities: import a staged upload into the block store, and remove image data."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.heartbeat import with_heartbeats
from activities.storage.block import BlockStore, RbdRef, image_ref, root_disk_ref


@dataclass(frozen=True)
class ImportImageInput:
    image_id: str
    staging_path: str
    disk_format: str


@dataclass(frozen=True)
class ImportImageResult:
    """What was stored. Converted data gets its own digests: they describe what a download
    returns."""

    virtual_size: int
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class ImageRef:
    image_id: str


@dataclass(frozen=True)
class StagingRef:
    staging_path: str


@dataclass(frozen=True)
class ServerImageInput:
    server_id: str
    image_id: str


def _disk_snap(inp: ServerImageInput) -> RbdRef:
    return root_disk_ref(inp.server_id).at(f"image-{inp.image_id}")


class ImageActivities:
    """Image data in the block store: pool ``images``, one protected snapshot each."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    @activity.defn
    def import_image(self, inp: ImportImageInput) -> ImportImageResult:
        """Copy the staged file into the image (qcow2 becomes raw, so clones work)."""
        ref = image_ref(inp.image_id).image()
        size = with_heartbeats(
            lambda: self.store.import_file(ref, inp.staging_path, inp.disk_format)
        )
        if inp.disk_format == "raw":
            return ImportImageResult(size)
        return self._stored(ref, size)

    @activity.defn
    def protect_image(self, inp: ImageRef) -> None:
        """Take the protected snapshot every server disk and volume is cloned from."""
        self.store.snapshot(image_ref(inp.image_id))

    @activity.defn
    def delete_image_data(self, inp: ImageRef) -> None:
        """Remove the image and its snapshot; ``Conflict`` while clones depend on it."""
        self.store.delete(image_ref(inp.image_id).image())

    @activity.defn
    def remove_staging(self, inp: StagingRef) -> None:
        """Remove the staged upload; a missing file is success."""
        try:
            os.unlink(inp.staging_path)
        except FileNotFoundError:
            pass

    @activity.defn
    def snapshot_server_disk(self, inp: ServerImageInput) -> None:
        """A point-in-time snapshot of the server's root disk (crash-consistent)."""
        self.store.snapshot(_disk_snap(inp))

    @activity.defn
    def drop_server_disk_snapshot(self, inp: ServerImageInput) -> None:
        """Remove that snapshot once the image no longer depends on it."""
        self.store.remove_snapshot(_disk_snap(inp))

    @activity.defn
    def copy_into_image(self, inp: ServerImageInput) -> ImportImageResult:
        """Clone the disk snapshot into the image, flatten it so it stands alone, and
        return its size and digests (what a download of it returns)."""
        ref = image_ref(inp.image_id).image()
        if not self._copied(ref):
            self.store.clone(_disk_snap(inp), ref)
        with_heartbeats(lambda: self.store.flatten(ref))
        return self._stored(ref, self.store.size(ref))

    def _copied(self, ref: RbdRef) -> bool:
        """Whether an earlier run already cloned and flattened the image: it stands alone
        and holds data. A parentless blank image is what a clone killed half-way leaves,
        which ``clone`` replaces."""
        return (
            self.store.exists(ref)
            and self.store.parent(ref) is None
            and not self.store.is_blank(ref)
        )

    def _stored(self, ref: RbdRef, size: int) -> ImportImageResult:
        """Size and digests of what the store holds: what a download of it returns."""
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        for chunk in self.store.read(ref):
            md5.update(chunk)
            sha.update(chunk)
            activity.heartbeat()
        return ImportImageResult(size, md5.hexdigest(), sha.hexdigest())

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.import_image,
            self.protect_image,
            self.delete_image_data,
            self.remove_staging,
            self.snapshot_server_disk,
            self.drop_server_disk_snapshot,
            self.copy_into_image,
        ]
