"""The extensions Nimbus really implements: clients choose calls and attributes by them,
so listing one that is not implemented would send them down paths that fail."""

from __future__ import annotations

from flask import Response, jsonify

from api.context import current
from api.network import bp
from api.policy import authorize
from nimbus.errors import NotFound

_UPDATED = "2026-01-01T00:00:00-00:00"

#: alias -> (name, description)
EXTENSIONS = {
    "router": ("Neutron L3 Router", "Routers between networks, with SNAT and floating IPs."),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "The enable_snat flag."),
    "external-net": ("Neutron external network", "Networks for router gateways."),
    "security-group": ("security-group", "Stateful security groups and their rules."),
    "port-security": ("Port Security", "Turning filtering off for a port."),
    "binding": ("Port Binding", "The host a port is bound to (read-only)."),
    "network-mtu": ("Network MTU", "The MTU of a network."),
    "standard-attr-description": ("standard-attr-description", "Descriptions on resources."),
    "standard-attr-timestamp": ("Resource timestamps", "created_at and updated_at."),
    "project-id": ("project_id field enabled", "project_id beside tenant_id."),
    "quotas": ("Quota management support", "Per-project quotas, enforced on every create."),
    "quota_details": ("Quota details management support", "Usage beside each limit."),
    "quota-check-limit": ("Quota engine limit check", "check_limit refuses a limit below use."),
}


def _doc(alias: str) -> dict[str, object]:
    name, description = EXTENSIONS[alias]
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "links": [],
        "updated": _UPDATED,
    }


@bp.get("/v2.0/extensions")
def list_extensions() -> Response:
    authorize(current(), "network:networks:list")
    return jsonify({"extensions": [_doc(alias) for alias in EXTENSIONS]})


@bp.get("/v2.0/extensions/<alias>")
def show_extension(alias: str) -> Response:
    authorize(current(), "network:networks:list")
    if alias not in EXTENSIONS:
        raise NotFound(f"Extension with alias {alias} does not exist")
    return jsonify({"extension": _doc(alias)})
