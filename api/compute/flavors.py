"""Flavors: list, detail, show, and who may see which (Nova's flavors and flavor access).

Shapes by microversion: ``description`` from 2.55, ``extra_specs`` in the flavor from
2.61, ``swap`` 0 rather than ``""`` from 2.75 (where unknown list parameters also turn
from ignored to refused). A private flavor is seen by admins and by the projects it was
shared with (``os-flavor-access``); to everyone else it does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from api import deps
from api.compute import bp
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import allowed, authorize
from api.validation import check_query, next_links, paginate
from nimbus.db import MAX_INT, Flavor, Server
from nimbus.db_compute import FlavorProject, extra_specs_of, server_flavor
from nimbus.errors import InvalidSpec, NotFound

#: Nova's sort keys -> what Nimbus sorts by (keys of fields it keeps none of sort as id).
SORT_KEYS: dict[str, Callable[[Flavor], Any]] = {
    **dict.fromkeys(
        ("flavorid", "id", "created_at", "updated_at", "disabled", "vcpu_weight"),
        lambda f: f.id,
    ),
    "name": lambda f: f.name,
    "memory_mb": lambda f: f.ram,
    "root_gb": lambda f: f.disk,
    "ephemeral_gb": lambda f: f.ephemeral,
    "swap": lambda f: f.swap,
    "vcpus": lambda f: f.vcpus,
    "is_public": lambda f: f.is_public,
    "description": lambda f: f.description or "",
    "rxtx_factor": lambda f: f.rxtx_factor or 1.0,
}
#: The list's query parameters, the only ones taken from 2.75.
LIST_PARAMS = {"limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"}
_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


def flavor_links(flavor_id: str) -> list[dict[str, str]]:
    """Nova's self and bookmark links of a flavor."""
    base = deps.settings().public_url + "/compute"
    return [
        {"rel": "self", "href": f"{base}/v2.1/flavors/{flavor_id}"},
        {"rel": "bookmark", "href": f"{base}/flavors/{flavor_id}"},
    ]


def brief_view(f: Flavor) -> dict[str, Any]:
    """A flavor in the brief list: id, name, links, and from 2.55 its description."""
    view: dict[str, Any] = {"id": f.id, "name": f.name, "links": flavor_links(f.id)}
    if at_least("2.55"):
        view["description"] = f.description
    return view


def flavor_view(f: Flavor, extra_specs: dict[str, str] | None) -> dict[str, Any]:
    """Nova's full flavor; ``extra_specs`` shown from 2.61 (None: read them here)."""
    view = {
        **brief_view(f),
        "ram": f.ram,
        "disk": f.disk,
        "vcpus": f.vcpus,
        "swap": f.swap if at_least("2.75") else f.swap or "",
        "rxtx_factor": f.rxtx_factor or 1.0,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": f.is_public,
    }
    if at_least("2.61") and allowed(current(), "compute:flavor_extra_specs:list"):
        if extra_specs is None:
            with deps.db().session() as s:
                extra_specs = extra_specs_of(s, f.id)
        view["extra_specs"] = extra_specs
    return view


def _sees_private(ctx: RequestContext) -> bool:
    return allowed(ctx, "compute:flavors:private")


def _visible(ctx: RequestContext, public: bool | None) -> ColumnElement[bool]:
    """Nova's filter: public ones with those shared with the caller's project (True),
    private ones (False, admins only), or all (None, admins only)."""
    shared = select(FlavorProject.flavor_id).where(FlavorProject.project_id == ctx.project_id)
    if public is None:
        return true()
    if public:
        return or_(Flavor.is_public.is_(True), Flavor.id.in_(shared))
    return Flavor.is_public.is_(False)


def _is_public_filter(ctx: RequestContext) -> bool | None:
    """``is_public`` as Nova reads it: only admins choose; ``none`` means all."""
    text = request.args.get("is_public")
    if not _sees_private(ctx) or text is None:
        return True
    if text.lower() == "none":
        return None
    if text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    raise InvalidSpec(f"Invalid is_public filter [{text}]")


def _check_params() -> None:
    if at_least("2.75"):
        check_query(LIST_PARAMS)
    key, way = request.args.get("sort_key", "flavorid"), request.args.get("sort_dir", "asc")
    if key not in SORT_KEYS:
        raise InvalidSpec(f"Invalid input for query parameters sort_key. Value: {key}.")
    if way not in ("asc", "desc"):
        raise InvalidSpec(f"Invalid input for query parameters sort_dir. Value: {way}.")


def _minimum(arg: str) -> int | None:
    value = request.args.get(arg)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidSpec(f"Invalid {arg} filter [{value}]") from None


def _sorted(flavors: list[Flavor]) -> list[Flavor]:
    """By ``sort_key`` (Nova's default: the flavor id), then by id."""
    key = SORT_KEYS[request.args.get("sort_key", "flavorid")]
    flavors = sorted(flavors, key=lambda f: f.id)
    return sorted(flavors, key=key, reverse=request.args.get("sort_dir") == "desc")


def _found(ctx: RequestContext) -> list[Flavor]:
    _check_params()
    query = select(Flavor).where(_visible(ctx, _is_public_filter(ctx)))
    for arg, column in (("minRam", Flavor.ram), ("minDisk", Flavor.disk)):
        least = _minimum(arg)
        if least is not None:
            # No flavor holds more than MAX_INT, and PostgreSQL refuses a larger bound.
            query = query.where(column >= least if least <= MAX_INT else false())
    with deps.db().session() as s:
        return _sorted(list(s.scalars(query)))


def _all_extra_specs(flavors: list[Flavor]) -> dict[str, dict[str, str]]:
    with deps.db().session() as s:
        return {f.id: extra_specs_of(s, f.id) for f in flavors}


def _listed(detail: bool) -> Response:
    """Nova's flavor list: filters, then ``marker``/``limit`` paging with a
    ``flavors_links`` next link when a page is full."""
    limit = request.args.get("limit")
    found = _found(current())
    page = paginate(found, [f.id for f in found], request.args.get("marker"), limit)
    if detail:
        specs = _all_extra_specs(page) if at_least("2.61") else {}
        views = [flavor_view(f, specs.get(f.id, {})) for f in page]
    else:
        views = [brief_view(f) for f in page]
    body: dict[str, Any] = {"flavors": views}
    links = next_links(len(page), page[-1].id if page else None)
    if links:
        body["flavors_links"] = links
    return jsonify(body)


def may_use(s: Session, ctx: RequestContext, flavor: Flavor) -> bool:
    """A public flavor, one shared with the caller's project, or any for an admin."""
    if flavor.is_public or _sees_private(ctx):
        return True
    return s.get(FlavorProject, (flavor.id, ctx.project_id)) is not None


def get_flavor(flavor_id: str) -> Flavor:
    """The flavor the caller names; 404 when it does not exist or is another project's
    private flavor (as Nova hides it)."""
    with deps.db().session() as s:
        flavor = s.get(Flavor, flavor_id)
        if flavor is None or not may_use(s, current(), flavor):
            raise NotFound(f"Flavor {flavor_id} could not be found.")
    return flavor


def flavor_of_server(server: Server) -> Flavor:
    """The flavor a server runs with, from its own copy once that flavor was deleted;
    whoever may see the server may see this (a private flavor included)."""
    with deps.db().session() as s:
        flavor = server_flavor(s, server.id, server.flavor_id)
    if flavor is None:
        raise NotFound(f"Flavor {server.flavor_id} could not be found.")
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
    return jsonify({"flavor": flavor_view(get_flavor(flavor_id), None)})
