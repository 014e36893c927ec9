"""Block storage, Cinder v3 shape: volumes, snapshots and types, under ``/v3/<project>``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from api import deps
from api.context import authenticate
from api.errors import Forbidden
from api.microversion import APIVersion, VersionRange, bind, current

bp = Blueprint("volume", __name__)

VERSION = "3.0"
MIN_VERSION = "3.0"
VERSIONS = VersionRange("volume", APIVersion.parse(MIN_VERSION), APIVersion.parse(VERSION))


def _version_doc() -> dict[str, Any]:
    href = deps.settings().public_url + "/volume/v3/"
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": VERSION,
        "min_version": MIN_VERSION,
        "updated": "2016-02-08T12:20:21Z",
        "links": [{"rel": "self", "href": href}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


@bp.get("")
@bp.get("/")
def versions() -> tuple[Response, int]:
    return jsonify({"versions": [_version_doc()]}), 300


@bp.get("/v3")
@bp.get("/v3/")
def version() -> Response:
    """Cinder's version document is a list of one, under ``versions``."""
    return jsonify({"versions": [_version_doc()]})


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in ("volume.versions", "volume.version"):
        return
    bind(VERSIONS)
    ctx = authenticate(deps.db())
    project = (request.view_args or {}).get("project_id")
    if project is not None and project != ctx.project_id and "admin" not in ctx.roles:
        raise Forbidden("The project in the URL is not the token's project.")


@bp.after_request
def _microversion(response: Response) -> Response:
    response.headers["OpenStack-API-Version"] = f"volume {current(VERSIONS.minimum)}"
    response.headers["Vary"] = "OpenStack-API-Version"
    return response


from api.volume import quotas, snapshots, transfers, volumes  # noqa: E402,F401  (routes register on bp)
