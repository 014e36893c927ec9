"""Images, Glance v2 shape: records, data (staged upload, download) and schemas."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api import deps
from api.context import admit, public

bp = Blueprint("image", __name__)


def _version(vid: str, status: str) -> dict[str, Any]:
    href = deps.settings().public_url + "/image/v2/"
    return {"id": vid, "status": status, "links": [{"rel": "self", "href": href}]}


@bp.get("")
@bp.get("/")
@bp.get("/versions")
@public
def versions() -> tuple[Response, int]:
    values = [_version("v2.9", "CURRENT")] + [
        _version(f"v2.{n}", "SUPPORTED") for n in range(8, -1, -1)
    ]
    return jsonify({"versions": values}), 300


@bp.before_request
def _authenticate() -> None:
    admit(deps.db())


from api.image import data, images, metadefs, schemas  # noqa: E402,F401  (routes register on bp)
