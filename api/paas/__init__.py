"""The PaaS API under ``/paas/v1``: apps, packages, builds, releases, instances, routes,
events, logs, services and bindings. Same Keystone tokens and policy table as every other
service: a reader looks, a member pushes, another project's apps are 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from api import deps
from api.context import authenticate

bp = Blueprint("paas", __name__)

#: What a supervisor update may take to be acknowledged (it runs a few activities).
UPDATE_SECONDS = 60


def _version_doc() -> dict[str, Any]:
    href = deps.settings().public_url + "/paas/v1/"
    return {"id": "v1", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}


@bp.get("/v1")
@bp.get("/v1/")
def version() -> Response:
    return jsonify({"version": _version_doc()})


@bp.before_request
def _authenticate() -> None:
    if request.endpoint != "paas.version":
        authenticate(deps.db())


from api.paas import (  # noqa: E402,F401  (routes register on bp)
    actions,
    apps,
    autoscaling,
    builds,
    deployments,
    packages,
    services,
)
