"""Images, Glance v2 shape: version discovery, list, show and the image schema.

Images live in the data directory for now; upload and delete come with Ceph storage.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import or_, select

from api import deps
from api.context import RequestContext, authenticate, current
from api.policy import authorize
from api.timefmt import iso
from api.validation import paginate
from nimbus.db import Image
from nimbus.errors import NotFound

bp = Blueprint("image", __name__)


def _version(vid: str, status: str) -> dict[str, Any]:
    href = deps.settings().public_url + "/image/v2/"
    return {"id": vid, "status": status, "links": [{"rel": "self", "href": href}]}


@bp.get("")
@bp.get("/")
@bp.get("/versions")
def versions() -> tuple[Response, int]:
    values = [_version("v2.9", "CURRENT")] + [
        _version(f"v2.{n}", "SUPPORTED") for n in range(8, -1, -1)
    ]
    return jsonify({"versions": values}), 300


@bp.before_request
def _authenticate() -> None:
    if request.endpoint != "image.versions":
        authenticate(deps.db())


def _visible_query(ctx: RequestContext) -> Any:
    return select(Image).where(
        or_(Image.visibility.in_(["public", "community"]), Image.owner == ctx.project_id)
    )


def find_visible_image(image_id: str, ctx: RequestContext) -> Image:
    """The image if the project may use it; 404 otherwise (others' private images too)."""
    with deps.db().session() as s:
        image = s.scalars(_visible_query(ctx).where(Image.id == image_id)).first()
    if image is None:
        raise NotFound(f"Image {image_id} could not be found.")
    return image


def view(image: Image) -> dict[str, Any]:
    return {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": image.protected,
        "os_hidden": False,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "owner": image.owner,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "tags": image.tags or [],
        "created_at": iso(image.created_at),
        "updated_at": iso(image.updated_at),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
        **(image.properties or {}),
    }


_FILTERS = ("name", "status", "visibility", "owner", "disk_format", "container_format")


@bp.get("/v2/images")
def list_images() -> Response:
    ctx = current()
    authorize(ctx, "image:images:list")
    query = _visible_query(ctx).order_by(Image.created_at.desc(), Image.id)
    for key in _FILTERS:
        if request.args.get(key):
            query = query.where(getattr(Image, key) == request.args[key])
    with deps.db().session() as s:
        images = list(s.scalars(query))
    ids = [i.id for i in images]
    images = paginate(images, ids, request.args.get("marker"), request.args.get("limit"))
    return jsonify(
        {"images": [view(i) for i in images], "first": "/v2/images", "schema": "/v2/schemas/images"}
    )


@bp.get("/v2/images/<image_id>")
def show_image(image_id: str) -> Response:
    ctx = current()
    authorize(ctx, "image:images:show")
    return jsonify(view(find_visible_image(image_id, ctx)))


_SCHEMA_PROPERTIES = {
    "id": {"type": "string"},
    "name": {"type": ["null", "string"], "maxLength": 255},
    "status": {
        "type": "string",
        "enum": ["queued", "saving", "active", "killed", "deleted", "pending_delete"],
    },
    "visibility": {"type": "string", "enum": ["public", "private", "shared", "community"]},
    "protected": {"type": "boolean"},
    "checksum": {"type": ["null", "string"]},
    "owner": {"type": ["null", "string"]},
    "size": {"type": ["null", "integer"]},
    "min_ram": {"type": "integer"},
    "min_disk": {"type": "integer"},
    "disk_format": {"type": ["null", "string"]},
    "container_format": {"type": ["null", "string"]},
    "tags": {"type": "array", "items": {"type": "string"}},
}


@bp.get("/v2/schemas/image")
def image_schema() -> Response:
    return jsonify(
        {
            "name": "image",
            "properties": _SCHEMA_PROPERTIES,
            "additionalProperties": {"type": "string"},
            "links": [],
        }
    )


@bp.get("/v2/schemas/images")
def images_schema() -> Response:
    return jsonify(
        {
            "name": "images",
            "properties": {
                "images": {
                    "type": "array",
                    "items": {"name": "image", "properties": _SCHEMA_PROPERTIES},
                }
            },
            "links": [],
        }
    )
