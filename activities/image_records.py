"""Database activities of the image workflows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from temporalio import activity

from activities.images import ImageRef
from activities.storage.block import image_ref
from nimbus.db import Database, Image, Server, utcnow
from nimbus.errors import Conflict, NotFound


@dataclass(frozen=True)
class MarkImageActiveInput:
    image_id: str
    virtual_size: int
    converted_md5: str | None = None
    converted_sha256: str | None = None


class ImageRecords:
    """Activities that move image rows through queued -> saving -> active -> deleted."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def mark_image_active(self, inp: MarkImageActiveInput) -> None:
        """saving -> active, with where the data lives."""
        with self.db.session() as s:
            image = _live(s.get(Image, inp.image_id), inp.image_id)
            image.status, image.virtual_size = "active", inp.virtual_size
            image.location = str(image_ref(inp.image_id))
            if inp.converted_sha256:
                image.disk_format, image.size = "raw", inp.virtual_size
                image.checksum, image.os_hash_value = inp.converted_md5, inp.converted_sha256

    @activity.defn
    def mark_image_queued(self, inp: ImageRef) -> None:
        """Back to queued after a failed import, so the upload can be tried again."""
        with self.db.session() as s:
            image = s.get(Image, inp.image_id)
            if image is not None and image.deleted_at is None and image.status == "saving":
                image.status = "queued"
                image.size = image.checksum = image.os_hash_value = None

    @activity.defn
    def check_image_unused(self, inp: ImageRef) -> None:
        """``Conflict`` if a live server was booted from the image."""
        with self.db.session() as s:
            user = s.scalars(
                select(Server.id).where(
                    Server.image_id == inp.image_id, Server.deleted_at.is_(None)
                )
            ).first()
        if user is not None:
            raise Conflict(f"Image {inp.image_id} is in use by server {user}.")

    @activity.defn
    def mark_image_deleted(self, inp: ImageRef) -> None:
        with self.db.session() as s:
            image = s.get(Image, inp.image_id)
            if image is not None and image.deleted_at is None:
                image.status, image.deleted_at = "deleted", utcnow()

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.mark_image_active,
            self.mark_image_queued,
            self.check_image_unused,
            self.mark_image_deleted,
        ]


def _live(image: Image | None, image_id: str) -> Image:
    if image is None or image.deleted_at is not None:
        raise NotFound(f"Image {image_id} could not be found.")
    return image
