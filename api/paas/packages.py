"""Packages: an app's uploaded source, addressed by its sha256. A push first asks whether
the project already has the package, so an unchanged app uploads nothing."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

from flask import Response, jsonify, request

from activities.paas_staging import package_path, packages_dir
from api import deps
from api.context import current
from api.errors import UnsupportedMediaType
from api.openapi import OCTET_STREAM, request_body
from api.paas import bp
from api.policy import authorize
from nimbus.db_paas import Package
from nimbus.errors import InvalidSpec, NotFound

#: The largest package accepted.
PACKAGE_CAP = 512 << 20
CHUNK = 1 << 20
SHA256 = re.compile(r"[0-9a-f]{64}")


def _checked(sha256: str) -> str:
    if not SHA256.fullmatch(sha256):
        raise InvalidSpec("A package is named by the sha256 of its content: 64 hex digits.")
    return sha256


def find_package(project_id: str, sha256: str) -> Package:
    """The project's package; 404 if the project never uploaded it."""
    with deps.db().session() as s:
        row = s.get(Package, (project_id, _checked(sha256)))
    if row is None or not package_path(deps.settings().paas_dir, sha256).exists():
        raise NotFound(f"Package {sha256} could not be found.")
    return row


def _view(row: Package) -> dict[str, object]:
    return {"sha256": row.sha256, "size": row.size}


@bp.get("/v1/packages/<digest>")
def show_package(digest: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:show")
    return jsonify({"package": _view(find_package(ctx.project_id, digest))})


@bp.put("/v1/packages/<digest>")
@request_body(OCTET_STREAM)
def upload_package(digest: str) -> tuple[Response, int]:
    """Store the body (a tar.gz) if its sha256 is the one named; 201, or 200 if the
    project already had it."""
    ctx = current()
    authorize(ctx, "paas:apps:create")
    sha256 = _checked(digest)
    if request.mimetype != "application/octet-stream":
        raise UnsupportedMediaType("A package must be sent as application/octet-stream.")
    final = package_path(deps.settings().paas_dir, sha256)
    request.max_content_length = PACKAGE_CAP
    size = _receive(final, sha256)
    with deps.db().session() as s:
        known = s.get(Package, (ctx.project_id, sha256)) is not None
        if not known:
            s.add(Package(project_id=ctx.project_id, sha256=sha256, size=size))
    return jsonify({"package": {"sha256": sha256, "size": size}}), 200 if known else 201


def _receive(final: Path, sha256: str) -> int:
    """Write the body beside ``final`` while hashing it; keep it only if it matches."""
    packages_dir(deps.settings().paas_dir).mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{uuid.uuid4().hex}.partial")
    digest, size = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            while chunk := request.stream.read(CHUNK):
                size += len(chunk)
                if size > PACKAGE_CAP:
                    raise InvalidSpec(f"The package is larger than {PACKAGE_CAP >> 20} MiB.")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidSpec("The package is empty.")
        if digest.hexdigest() != sha256:
            raise InvalidSpec(
                f"The package's sha256 is {digest.hexdigest()}, not {sha256} as its URL says."
            )
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return size
