"""Image records: list, show, create, update (JSON patch), delete, tags."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import or_, select

from api import deps
from api.context import RequestContext, current
from api.errors import Forbidden, UnsupportedMediaType
from api.image import bp
from api.image.schemas import IMAGE_PROPERTIES
from api.openapi import from_json_schema, request_body
from api.policy import allowed, authorize
from api.timefmt import iso
from api.validation import json_body, json_value, paginate
from nimbus.db import MAX_INT, Image
from nimbus.errors import Conflict, InvalidSpec, NotFound
from workflows import starter

#: What Nimbus stores. qcow2 is converted to raw on import, so that clones work.
DISK_FORMATS = ("raw", "qcow2")
CONTAINER_FORMATS = ("bare",)
VISIBILITIES = ("public", "private", "shared", "community")

#: Fields a client may not set; Glance answers 403 for them.
READ_ONLY = {
    "id",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "owner",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "locations",
    "direct_url",
    "deleted",
    "deleted_at",
}
_BASE_FIELDS = {
    "name",
    "visibility",
    "protected",
    "min_disk",
    "min_ram",
    "tags",
    "disk_format",
    "container_format",
    "os_hidden",
}


def _visible_query(ctx: RequestContext) -> Any:
    query = select(Image).where(Image.deleted_at.is_(None))
    if allowed(ctx, "image:images:all_projects"):
        return query
    return query.where(
        or_(Image.visibility.in_(["public", "community"]), Image.owner == ctx.project_id)
    )


def find_visible_image(image_id: str, ctx: RequestContext) -> Image:
    """The image if the project may see it; 404 otherwise (others' private images too)."""
    with deps.db().session() as s:
        image = s.scalars(_visible_query(ctx).where(Image.id == image_id)).first()
    if image is None:
        raise NotFound(f"Image {image_id} could not be found.")
    return image


def find_own_image(image_id: str, ctx: RequestContext) -> Image:
    """The image if the caller may change it: its project's own, or any for an admin."""
    image = find_visible_image(image_id, ctx)
    if image.owner != ctx.project_id and not allowed(ctx, "image:images:all_projects"):
        raise Forbidden(f"You are not permitted to modify image {image_id}.")
    return image


def view(image: Image) -> dict[str, Any]:
    return {
        **(image.properties or {}),
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
    if request.args.get("tag"):
        images = [i for i in images if request.args["tag"] in (i.tags or [])]
    ids = [i.id for i in images]
    images = paginate(images, ids, request.args.get("marker"), request.args.get("limit"))
    body = {
        "images": [view(i) for i in images],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }
    return jsonify(body)


@bp.get("/v2/images/<image_id>")
def show_image(image_id: str) -> Response:
    ctx = current()
    authorize(ctx, "image:images:show")
    return jsonify(view(find_visible_image(image_id, ctx)))


def _set(image: Image, key: str, value: Any, ctx: RequestContext) -> None:
    """Set one field after checking it as Glance does; unknown keys are properties."""
    if key in READ_ONLY:
        raise Forbidden(f"Attribute '{key}' is read-only.")
    if key in ("disk_format", "container_format") and image.status != "queued":
        raise Forbidden(f"Attribute '{key}' can be changed only while the image is queued.")
    if key in _BASE_FIELDS:
        _set_field(image, key, value, ctx)
    else:
        _set_property(image, key, value)


def _count(value: Any) -> bool:
    """A whole number a 32-bit column holds (Glance keeps min_disk and min_ram in one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT


def _set_field(image: Image, key: str, value: Any, ctx: RequestContext) -> None:
    checks = {
        "name": lambda v: v is None or (isinstance(v, str) and len(v) <= 255),
        "visibility": lambda v: v in VISIBILITIES,
        "protected": lambda v: isinstance(v, bool),
        "os_hidden": lambda v: isinstance(v, bool),
        "min_disk": _count,
        "min_ram": _count,
        "tags": lambda v: (
            isinstance(v, list) and all(isinstance(t, str) and 0 < len(t) <= 255 for t in v)
        ),
        "disk_format": lambda v: v in DISK_FORMATS,
        "container_format": lambda v: v in CONTAINER_FORMATS,
    }
    if not checks[key](value):
        allowed_values = {
            "disk_format": DISK_FORMATS,
            "container_format": CONTAINER_FORMATS,
            "visibility": VISIBILITIES,
        }.get(key)
        hint = f" (one of: {', '.join(allowed_values)})" if allowed_values else ""
        raise InvalidSpec(f"Invalid value {value!r} for '{key}'{hint}.")
    if key == "visibility" and value == "public":
        authorize(ctx, "image:images:publicize")
    if key == "os_hidden":
        return
    setattr(image, key, sorted(set(value)) if key == "tags" else value)


def _set_property(image: Image, key: str, value: Any) -> None:
    if not (0 < len(key) <= 255) or not isinstance(value, str) or len(value) > 255:
        raise InvalidSpec(f"Property '{key}' must be a string of at most 255 characters.")
    image.properties = {**(image.properties or {}), key: value}


def _create_body() -> dict[str, Any]:
    """Glance's image schema less what only the service sets; other keys are properties."""
    writable = {k: v for k, v in IMAGE_PROPERTIES.items() if k == "id" or k not in READ_ONLY}
    schema = {"type": "object", "properties": writable, "additionalProperties": {"type": "string"}}
    return {"application/json": {"schema": from_json_schema(schema)}}


@bp.post("/v2/images")
@request_body(_create_body())
def create_image() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "image:images:create")
    body = json_body()
    image_id = str(body.pop("id", None) or uuid.uuid4())
    try:
        uuid.UUID(image_id)
    except ValueError as exc:
        raise InvalidSpec(f"Invalid image id {image_id!r}: a UUID is required.") from exc
    image = Image(
        id=image_id,
        owner=ctx.project_id,
        status="queued",
        visibility="shared",
        tags=[],
        properties={},
    )
    for key, value in body.items():
        _set(image, key, value, ctx)
    with deps.db().session() as s:
        if s.get(Image, image_id) is not None:
            raise Conflict(f"Image with identifier {image_id} already exists.")
        s.add(image)
    return jsonify(view(image)), 201


_PATCH_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)
_PATCH_OP = {
    "type": "object",
    "properties": {
        "op": {"type": "string", "enum": ["add", "replace", "remove"]},
        "path": {"type": "string", "example": "/name"},
        "value": {},
    },
    "required": ["op", "path"],
}
_PATCH_BODY = {t: {"schema": {"type": "array", "items": _PATCH_OP}} for t in _PATCH_TYPES}


def _patch_ops() -> list[dict[str, Any]]:
    if request.mimetype not in _PATCH_TYPES:
        raise UnsupportedMediaType(f"Content-Type must be {_PATCH_TYPES[0]}.")
    ops = json_value()
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise InvalidSpec("Malformed request body: expected a JSON patch (a list of ops).")
    return ops


def _apply(image: Image, op: dict[str, Any], ctx: RequestContext) -> None:
    kind, path = op.get("op"), op.get("path")
    if (
        kind not in ("add", "replace", "remove")
        or not isinstance(path, str)
        or not path.startswith("/")
        or path.count("/") != 1
    ):
        raise InvalidSpec(f"Unsupported patch operation: {op}")
    key = path[1:]
    if kind != "remove":
        _set(image, key, op.get("value"), ctx)
    elif key in READ_ONLY or key in _BASE_FIELDS:
        raise Forbidden(f"Attribute '{key}' cannot be removed.")
    elif key not in (image.properties or {}):
        raise Conflict(f"Property {key} does not exist.")
    else:
        image.properties = {k: v for k, v in image.properties.items() if k != key}


@bp.patch("/v2/images/<image_id>")
@request_body(_PATCH_BODY)
def update_image(image_id: str) -> Response:
    ctx = current()
    authorize(ctx, "image:images:update")
    ops = _patch_ops()
    find_own_image(image_id, ctx)
    with deps.db().session() as s:
        image = s.get(Image, image_id)
        assert image is not None
        for op in ops:
            _apply(image, op, ctx)
        result = view(image)
    return jsonify(result)


@bp.delete("/v2/images/<image_id>")
def delete_image(image_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "image:images:delete")
    image = find_own_image(image_id, ctx)
    if image.protected:
        raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
    if image.status == "saving":
        raise Conflict(f"Image {image_id} is being uploaded; try again when it is active.")
    host = deps.settings().host_name
    deps.bridge().run(
        lambda c: starter.delete_image(c, image.owner or "", image_id, host), timeout=120
    )
    return "", 204


@bp.put("/v2/images/<image_id>/tags/<tag>")
def add_tag(image_id: str, tag: str) -> tuple[str, int]:
    _change_tags(image_id, lambda tags: sorted(set(tags) | {tag}))
    return "", 204


@bp.delete("/v2/images/<image_id>/tags/<tag>")
def remove_tag(image_id: str, tag: str) -> tuple[str, int]:
    def without(tags: list[str]) -> list[str]:
        if tag not in tags:
            raise NotFound(f"Tag {tag} not found on image {image_id}.")
        return [t for t in tags if t != tag]

    _change_tags(image_id, without)
    return "", 204


def _change_tags(image_id: str, change: Any) -> None:
    ctx = current()
    authorize(ctx, "image:images:update")
    find_own_image(image_id, ctx)
    with deps.db().session() as s:
        image = s.get(Image, image_id)
        assert image is not None
        image.tags = change(list(image.tags or []))
