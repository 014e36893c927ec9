"""Glance's metadata definitions catalog, read-only and empty: Nimbus defines no metadata
namespaces, and the dashboards' image and flavor panels list them
(``GET /v2/metadefs/namespaces``, ``/v2/metadefs/resource_types``)."""

from __future__ import annotations

from flask import Response, jsonify

from api.context import current
from api.image import bp
from api.policy import authorize


@bp.get("/v2/metadefs/namespaces")
def list_metadef_namespaces() -> Response:
    authorize(current(), "image:images:list")
    return jsonify(
        {
            "namespaces": [],
            "first": "/v2/metadefs/namespaces",
            "schema": "/v2/schemas/metadefs/namespaces",
        }
    )


@bp.get("/v2/metadefs/resource_types")
def list_metadef_resource_types() -> Response:
    authorize(current(), "image:images:list")
    return jsonify({"resource_types": []})
