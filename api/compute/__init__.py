"""Compute, Nova v2.1 shape: versions, flavors and servers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from api import deps
from api.context import authenticate
from api.microversion import APIVersion, VersionRange, bind, current

bp = Blueprint("compute", __name__)

MIN_VERSION = "2.1"
# 2.11 to 2.15 change only os-services, os-virtual-interfaces, server groups and evacuate,
# none of which Nimbus serves, so each answers here as 2.10 does; 2.16 adds host_status,
# 2.17 trigger_crash_dump, and 2.18 (project id optional in URLs) changes nothing here as
# Nimbus's URLs carry none; 2.19 adds the server description. 2.20 only lets volumes be
# attached to shelved servers, and Nimbus cannot shelve. 2.21 (instance actions of deleted
# servers) onwards is not implemented yet.
MAX_VERSION = "2.26"
VERSIONS = VersionRange(
    "compute",
    APIVersion.parse(MIN_VERSION),
    APIVersion.parse(MAX_VERSION),
    legacy_header="X-OpenStack-Nova-API-Version",
)


def _version_doc() -> dict[str, Any]:
    href = deps.settings().public_url + "/compute/v2.1/"
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": href}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


@bp.get("")
@bp.get("/")
def versions() -> tuple[Response, int]:
    """Nova's root answers 200 (not 300) with the versions it serves."""
    return jsonify({"versions": [_version_doc()]}), 200


@bp.get("/v2.1")
@bp.get("/v2.1/")
def version() -> Response:
    return jsonify({"version": _version_doc()})


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in ("compute.versions", "compute.version"):
        return
    bind(VERSIONS)
    authenticate(deps.db())


@bp.after_request
def _microversion(response: Response) -> Response:
    version = str(current(VERSIONS.minimum))
    response.headers["OpenStack-API-Version"] = f"compute {version}"
    response.headers["X-OpenStack-Nova-API-Version"] = version
    response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    return response


from api.compute import flavors, keypairs, quotas, servers  # noqa: E402,F401  (routes register on bp)
