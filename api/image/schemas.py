"""The JSON schemas Glance publishes (Rally and some clients read them)."""

from __future__ import annotations

from flask import Response, jsonify

from api.image import bp

IMAGE_PROPERTIES = {
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
            "properties": IMAGE_PROPERTIES,
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
                    "items": {"name": "image", "properties": IMAGE_PROPERTIES},
                }
            },
            "links": [],
        }
    )
