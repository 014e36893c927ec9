"""Flavors: list, detail, show, extra specs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, jsonify, request
from sqlalchemy import select

from api import deps
from api.compute import bp
from api.context import current
from api.policy import authorize
from api.validation import paginate
from nimbus.db import Flavor
from nimbus.errors import InvalidSpec, NotFound


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


def _listed(detail: bool) -> Response:
    """Nova's flavor list: ``minRam``/``minDisk`` filters, then ``marker``/``limit`` paging
    with a ``flavors_links`` next link when a page is full."""
    flavors = _all()
    for arg, attr in (("minRam", "ram"), ("minDisk", "disk")):
        value = request.args.get(arg)
        if value is not None:
            if not value.isdigit():
                raise InvalidSpec(f"Invalid {arg} filter [{value}]")
            flavors = [f for f in flavors if getattr(f, attr) >= int(value)]
    limit = request.args.get("limit")
    page = paginate(flavors, [f.id for f in flavors], request.args.get("marker"), limit)
    body: dict[str, Any] = {"flavors": [_view(f, detail) for f in page]}
    if limit is not None and page and len(page) == int(limit):
        query = urlencode({**request.args.to_dict(), "marker": page[-1].id})
        body["flavors_links"] = [{"rel": "next", "href": f"{request.base_url}?{query}"}]
    return jsonify(body)


def get_flavor(flavor_id: str) -> Flavor:
    with deps.db().session() as s:
        flavor = s.get(Flavor, flavor_id)
    if flavor is None:
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return flavor


@bp.get("/v2.1/flavors")
def list_flavors() -> Response:
    authorize(current(), "compute:flavors:list")
    return _listed(detail=False)


@bp.get("/v2.1/flavors/detail")
def list_flavors_detail() -> Response:
    authorize(current(), "compute:flavors:list")
    return _listed(detail=True)


@bp.get("/v2.1/flavors/<flavor_id>")
def show_flavor(flavor_id: str) -> Response:
    authorize(current(), "compute:flavors:show")
    return jsonify({"flavor": _view(get_flavor(flavor_id), True)})


@bp.get("/v2.1/flavors/<flavor_id>/os-extra_specs")
def flavor_extra_specs(flavor_id: str) -> Response:
    authorize(current(), "compute:flavors:show")
    get_flavor(flavor_id)
    return jsonify({"extra_specs": {}})
