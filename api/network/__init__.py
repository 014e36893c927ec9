"""Networking, Neutron v2.0 shape, under ``/networking`` (clients append ``/v2.0``):
networks, subnets, ports, routers, floating IPs, security groups and their rules.

Reads come from the database; a write stores its intent (rows, addresses) in one
transaction and runs the workflow that realises it to its end before answering.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api import deps
from api.context import admit, public

bp = Blueprint("network", __name__)

#: (member name, collection name) of every resource the API serves.
RESOURCES = [
    ("network", "networks"),
    ("subnet", "subnets"),
    ("port", "ports"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
    ("security_group", "security-groups"),
    ("security_group_rule", "security-group-rules"),
    ("extension", "extensions"),
]


def base_url() -> str:
    """The public URL of the v2.0 API, without a trailing slash."""
    return deps.settings().public_url + "/networking/v2.0"


def _version_doc() -> dict[str, Any]:
    return {
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": base_url() + "/"}],
    }


@bp.get("")
@bp.get("/")
@public
def versions() -> Response:
    return jsonify({"versions": [_version_doc()]})


@bp.get("/v2.0")
@bp.get("/v2.0/")
def resources() -> Response:
    listed = [
        {
            "name": name,
            "collection": collection,
            "links": [{"rel": "self", "href": f"{base_url()}/{collection}"}],
        }
        for name, collection in RESOURCES
    ]
    return jsonify({"resources": listed})


@bp.before_request
def _authenticate() -> None:
    admit(deps.db())


from api.network import (  # noqa: E402,F401  (routes register on bp)
    extensions,
    floatingips,
    networks,
    ports,
    quotas,
    router_interfaces,
    routers,
    security_group_rules,
    security_groups,
    subnets,
)
