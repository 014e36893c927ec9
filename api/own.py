"""What Nimbus's own APIs (``/paas``, ``/operations``: services OpenStack has no API
for) share: a v1 version document anyone may read, and a token on every other route."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api import deps
from api.context import admit, public


def serve_v1(bp: Blueprint, prefix: str) -> None:
    """Give ``bp`` (mounted at ``prefix``) its ``/v1`` version document, endpoint
    ``<bp>.version``, and require a valid token on all its other routes."""

    @public
    def version() -> Response:
        href = deps.settings().public_url + f"{prefix}/v1/"
        links = [{"rel": "self", "href": href}]
        return jsonify({"version": {"id": "v1", "status": "CURRENT", "links": links}})

    bp.add_url_rule("/v1", "version", version)
    bp.add_url_rule("/v1/", "version", version)

    @bp.before_request
    def _authenticate() -> None:
        admit(deps.db())
