"""The service catalog as Keystone's read-only admin view of it: services, endpoints and
regions, built from the same table as the catalog in every token (``api.catalog``).

Endpoint URLs are shown as Keystone stores them, with ``%(project_id)s`` where each
token's catalog has the project's id.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from api import deps
from api.catalog import build_catalog
from api.context import current
from api.identity import bp
from api.identity.common import collection_links, links
from api.policy import authorize
from nimbus.errors import NotFound

#: Keystone's substitution for the project in an endpoint URL template.
PROJECT_TEMPLATE = "%(project_id)s"


def _services() -> list[dict[str, Any]]:
    catalog = build_catalog(deps.settings(), PROJECT_TEMPLATE)
    return [
        {
            "id": entry["id"],
            "type": entry["type"],
            "name": entry["name"],
            "description": f"{entry['name']} ({entry['type']})",
            "enabled": True,
            "links": links("services", entry["id"]),
            "endpoints": entry["endpoints"],
        }
        for entry in catalog
    ]


def _service_view(service: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in service.items() if k != "endpoints"}


def _endpoints() -> list[dict[str, Any]]:
    return [
        {
            **endpoint,
            "service_id": service["id"],
            "enabled": True,
            "links": links("endpoints", endpoint["id"]),
        }
        for service in _services()
        for endpoint in service["endpoints"]
    ]


def _regions() -> list[dict[str, Any]]:
    region = deps.settings().region
    return [
        {
            "id": region,
            "description": "",
            "parent_region_id": None,
            "links": links("regions", region),
        }
    ]


def _filtered(items: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The items whose fields equal every one of ``keys`` given in the query string."""
    wanted = {k: request.args[k] for k in keys if k in request.args}
    return [i for i in items if all(str(i.get(k)) == v for k, v in wanted.items())]


def _one(items: list[dict[str, Any]], item_id: str, label: str) -> dict[str, Any]:
    found = next((i for i in items if i["id"] == item_id), None)
    if found is None:
        raise NotFound(f"Could not find {label}: {item_id}.")
    return found


@bp.get("/v3/services")
def list_services() -> Response:
    authorize(current(), "identity:services:list")
    services = [_service_view(s) for s in _filtered(_services(), ("type", "name"))]
    return jsonify({"services": services, "links": collection_links("services")})


@bp.get("/v3/services/<service_id>")
def show_service(service_id: str) -> Response:
    authorize(current(), "identity:services:list")
    return jsonify({"service": _service_view(_one(_services(), service_id, "service"))})


@bp.get("/v3/endpoints")
def list_endpoints() -> Response:
    authorize(current(), "identity:services:list")
    endpoints = _filtered(_endpoints(), ("interface", "service_id", "region_id"))
    return jsonify({"endpoints": endpoints, "links": collection_links("endpoints")})


@bp.get("/v3/endpoints/<endpoint_id>")
def show_endpoint(endpoint_id: str) -> Response:
    authorize(current(), "identity:services:list")
    return jsonify({"endpoint": _one(_endpoints(), endpoint_id, "endpoint")})


@bp.get("/v3/regions")
def list_regions() -> Response:
    authorize(current(), "identity:regions:list")
    return jsonify({"regions": _regions(), "links": collection_links("regions")})


@bp.get("/v3/regions/<region_id>")
def show_region(region_id: str) -> Response:
    authorize(current(), "identity:regions:list")
    return jsonify({"region": _one(_regions(), region_id, "region")})
