"""Who may use a private flavor (Nova's ``os-flavor-access``), for admins only: list the
projects, and add or remove one with the flavor's ``addTenantAccess`` and
``removeTenantAccess`` actions. A public flavor has no list (404) and, from 2.7, takes
no project (409)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import deps
from api.compute import bp
from api.compute.flavors import get_flavor
from api.context import current
from api.microversion import at_least
from api.policy import authorize
from api.validation import json_body
from nimbus.db import Flavor, Project
from nimbus.db_compute import FlavorProject
from nimbus.errors import Conflict, InvalidSpec, NotFound

ACTIONS = ("addTenantAccess", "removeTenantAccess")


def _access(flavor_id: str) -> Response:
    with deps.db().session() as s:
        rows = s.scalars(
            select(FlavorProject.project_id)
            .where(FlavorProject.flavor_id == flavor_id)
            .order_by(FlavorProject.project_id)
        )
        listed = [{"flavor_id": flavor_id, "tenant_id": p} for p in rows]
    return jsonify({"flavor_access": listed})


def _tenant(body: dict[str, Any]) -> tuple[str, str]:
    """The action and the project it names, checked as Nova's schemas check them."""
    if len(body) != 1 or next(iter(body)) not in ACTIONS:
        raise InvalidSpec(f"There is no such action: {', '.join(body) or 'none'}")
    action = next(iter(body))
    args = body[action]
    tenant = args.get("tenant") if isinstance(args, dict) else None
    if not isinstance(args, dict) or set(args) != {"tenant"}:
        tenant = None
    if not isinstance(tenant, str) or not 0 < len(tenant) <= 255:
        raise InvalidSpec(f"Invalid input for field/attribute {action}: 'tenant' is required.")
    return action, tenant


def _add(flavor: Flavor, tenant: str) -> None:
    if at_least("2.7") and flavor.is_public:
        raise Conflict("Can not add access to a public flavor.")
    with deps.db().session() as s:
        if s.get(Project, tenant) is None:
            raise InvalidSpec(f"Project ID {tenant} is not a valid project.")
    exists = Conflict(
        f"Flavor access already exists for flavor {flavor.id} and project {tenant} combination."
    )
    try:
        with deps.db().session() as s:
            if s.get(FlavorProject, (flavor.id, tenant)) is not None:
                raise exists
            s.add(FlavorProject(flavor_id=flavor.id, project_id=tenant))
    except IntegrityError as exc:  # added concurrently, or the flavor deleted meanwhile
        raise exists from exc


def _remove(flavor: Flavor, tenant: str) -> None:
    with deps.db().session() as s:
        row = s.get(FlavorProject, (flavor.id, tenant))
        if row is None:
            raise NotFound(f"Flavor access not found for {flavor.id} / {tenant} combination.")
        s.delete(row)


@bp.get("/v2.1/flavors/<flavor_id>/os-flavor-access")
def list_flavor_access(flavor_id: str) -> Response:
    authorize(current(), "compute:flavor_access:list")
    if get_flavor(flavor_id).is_public:
        raise NotFound("Access list not available for public flavors.")
    return _access(flavor_id)


@bp.post("/v2.1/flavors/<flavor_id>/action")
def flavor_action(flavor_id: str) -> Response:
    authorize(current(), "compute:flavor_access:update")
    action, tenant = _tenant(json_body())
    flavor = get_flavor(flavor_id)
    (_add if action == "addTenantAccess" else _remove)(flavor, tenant)
    return _access(flavor_id)
