"""The version documents clients discover the identity API by."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from api import deps
from api.context import public
from api.identity import bp


def _version() -> dict[str, Any]:
    href = deps.settings().public_url + "/identity/v3/"
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": href}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


@bp.get("")
@bp.get("/")
@public
def versions() -> tuple[Response, int]:
    return jsonify({"versions": {"values": [_version()]}}), 300


@bp.get("/v3")
@bp.get("/v3/")
@public
def version() -> Response:
    return jsonify({"version": _version()})
