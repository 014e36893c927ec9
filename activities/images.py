"""Image activities: import a staged upload into the block store, and remove image data."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.storage.block import BlockStore, image_ref


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


class ImageActivities:
    """Image data in the block store: pool ``images``, one protected snapshot each."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    @activity.defn
    def import_image(self, inp: ImportImageInput) -> ImportImageResult:
        """Copy the staged file into the image (qcow2 becomes raw, so clones work)."""
        ref = image_ref(inp.image_id).image()
        size = self.store.import_file(ref, inp.staging_path, inp.disk_format)
        if inp.disk_format == "raw":
            return ImportImageResult(size)
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        for chunk in self.store.read(ref):
            md5.update(chunk)
            sha.update(chunk)
            activity.heartbeat()
        return ImportImageResult(size, md5.hexdigest(), sha.hexdigest())

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

    def all(self) -> list[Callable[..., Any]]:
        return [self.import_image, self.protect_image, self.delete_image_data, self.remove_staging]
