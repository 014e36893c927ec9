"""Image data: upload (staged to disk while hashed, then imported by a workflow) and
download (streamed from the block store). Neither ever holds the image in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from flask import Response, request, stream_with_context
from sqlalchemy import update

from activities.storage.block import image_ref
from api import deps
from api.context import current
from api.errors import UnsupportedMediaType
from api.image import bp
from api.image.images import find_own_image, find_visible_image
from api.openapi import OCTET_STREAM, request_body
from api.policy import authorize
from nimbus.db import Image
from nimbus.errors import Conflict, InvalidSpec
from workflows import starter

CHUNK = 1 << 20

#: How long an upload request waits for its import workflow to finish.
IMPORT_WAIT_SECONDS = 2 * 3600


def _transition(image_id: str, old: str, new: str) -> bool:
    """Move the image from ``old`` to ``new`` status atomically; False if it was not ``old``."""
    with deps.db().session() as s:
        result = s.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == old, Image.deleted_at.is_(None))
            .values(status=new)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def stage(stream: IO[bytes], path: Path, cap: int) -> tuple[int, str, str]:
    """Copy the request body to ``path`` in chunks; return size, md5 and sha256."""
    md5, sha, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > cap:
                raise InvalidSpec(f"Image exceeds the size cap of {cap} bytes.")
            md5.update(chunk)
            sha.update(chunk)
            _write_sparse(out, chunk)
        out.truncate(size)
    if size == 0:
        raise InvalidSpec("The image data is empty.")
    return size, md5.hexdigest(), sha.hexdigest()


def _write_sparse(out: IO[bytes], chunk: bytes) -> None:
    """Write the chunk, or leave a hole where it is all zeros (disk images mostly are)."""
    if chunk.count(0) == len(chunk):
        out.seek(len(chunk), 1)
    else:
        out.write(chunk)


def _record_upload(image_id: str, size: int, md5: str, sha: str) -> None:
    with deps.db().session() as s:
        image = s.get(Image, image_id)
        assert image is not None
        image.size, image.checksum = size, md5
        image.os_hash_algo, image.os_hash_value = "sha256", sha


@bp.put("/v2/images/<image_id>/file")
@request_body(OCTET_STREAM)
def upload_image(image_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "image:images:upload")
    image = find_own_image(image_id, ctx)
    if request.mimetype != "application/octet-stream":
        raise UnsupportedMediaType("Image data must be sent as application/octet-stream.")
    if not image.disk_format or not image.container_format:
        raise InvalidSpec("Set disk_format and container_format before uploading data.")
    if not _transition(image_id, "queued", "saving"):
        raise Conflict(
            f"Image status transition from {image.status} to saving is not"
            " allowed: data can be uploaded only to a queued image."
        )
    settings = deps.settings()
    request.max_content_length = settings.image_size_cap
    path = settings.staging_dir / image_id
    try:
        _record_upload(image_id, *stage(request.stream, path, settings.image_size_cap))
    except BaseException:
        path.unlink(missing_ok=True)
        _transition(image_id, "saving", "queued")
        raise
    deps.bridge().run(
        lambda c: starter.import_image(
            c,
            image.owner or "",
            image_id,
            str(path),
            settings.host_name,
            image.disk_format or "raw",
        ),
        timeout=IMPORT_WAIT_SECONDS,
    )
    return "", 204


def _first_bytes(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """The image's own bytes: the store rounds an image up to whole sectors."""
    left = size
    for chunk in chunks:
        if left <= 0:
            break
        yield chunk[:left]
        left -= len(chunk)


@bp.get("/v2/images/<image_id>/file")
def download_image(image_id: str) -> Response:
    ctx = current()
    authorize(ctx, "image:images:download")
    image = find_visible_image(image_id, ctx)
    if image.status != "active":
        return Response(status=204)
    stored = deps.block_store().read(image_ref(image_id).image())
    chunks = _first_bytes(stored, image.size or 0)
    headers = {"Content-Length": str(image.size or 0), "Content-MD5": image.checksum or ""}
    return Response(
        stream_with_context(chunks), headers=headers, mimetype="application/octet-stream"
    )
