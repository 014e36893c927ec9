"""Flavors: list, detail, show, extra specs."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from api import deps
from api.compute import bp
from api.context import current
from api.policy import authorize
from nimbus.db import Flavor
from nimbus.errors import NotFound


def flavor_links(flavor_id: str) -> list[dict[str, str]]:
    base = deps.settings().public_url + "/compute"
    return [
        {"rel": "self", "href": f"{base}/v2.1/flavors/{flavor_id}"},
        {"rel": "bookmark", "href": f"{base}/flavors/{flavor_id}"},
    ]


def _view(f: Flavor, detail: bool) -> dict[str, Any]:
    brief = {"id": f.id, "name": f.name, "links": flavor_links(f.id)}
    if not detail:
        return brief
    return {
        **brief,
        "ram": f.ram,
        "disk": f.disk,
        "vcpus": f.vcpus,
        "swap": f.swap or "",
        "rxtx_factor": 1.0,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": f.is_public,
    }


def _all() -> list[Flavor]:
    with deps.db().session() as s:
        return list(s.scalars(select(Flavor).order_by(Flavor.ram, Flavor.id)))


def get_flavor(flavor_id: str) -> Flavor:
    with deps.db().session() as s:
        flavor = s.get(Flavor, flavor_id)
    if flavor is None:
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return flavor


@bp.get("/v2.1/flavors")
def list_flavors() -> Response:
    authorize(current(), "compute:flavors:list")
    return jsonify({"flavors": [_view(f, False) for f in _all()]})


@bp.get("/v2.1/flavors/detail")
def list_flavors_detail() -> Response:
    authorize(current(), "compute:flavors:list")
    return jsonify({"flavors": [_view(f, True) for f in _all()]})


@bp.get("/v2.1/flavors/<flavor_id>")
def show_flavor(flavor_id: str) -> Response:
    authorize(current(), "compute:flavors:show")
    return jsonify({"flavor": _view(get_flavor(flavor_id), True)})


@bp.get("/v2.1/flavors/<flavor_id>/os-extra_specs")
def flavor_extra_specs(flavor_id: str) -> Response:
    authorize(current(), "compute:flavors:show")
    get_flavor(flavor_id)
    return jsonify({"extra_specs": {}})
