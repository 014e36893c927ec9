"""Roles: list (``?name=``), show, and for admins create and delete.

The built-in roles ``admin``, ``member`` and ``reader`` carry the policy (``api.policy``)
and cannot be deleted: 403, as Keystone answers for an immutable role. Deleting any other
role removes its assignments. Domain-specific roles are not supported.
"""

from __future__ import annotations

from flask import Response, jsonify, request
from sqlalchemy import delete, select

from api import deps
from api.context import current
from api.errors import Forbidden
from api.identity import bp
from api.identity.common import collection_links, get_or_404, name_value, resource_body, unique
from api.identity.views import role_view
from api.policy import ADMIN, MEMBER, READER, authorize
from nimbus.db import Role, RoleAssignment
from nimbus.errors import Conflict, InvalidSpec

BUILT_IN = (ADMIN, MEMBER, READER)


@bp.get("/v3/roles")
def list_roles() -> Response:
    authorize(current(), "identity:roles:list")
    query = select(Role).order_by(Role.name)
    if "name" in request.args:
        query = query.where(Role.name == request.args["name"])
    with deps.db().session() as s:
        roles = [role_view(r) for r in s.scalars(query)]
    return jsonify({"roles": roles, "links": collection_links("roles")})


@bp.get("/v3/roles/<role_id>")
def show_role(role_id: str) -> Response:
    authorize(current(), "identity:roles:show")
    with deps.db().session() as s:
        role = get_or_404(s, Role, role_id, "role")
    return jsonify({"role": role_view(role)})


@bp.post("/v3/roles")
def create_role() -> tuple[Response, int]:
    authorize(current(), "identity:roles:create")
    spec = resource_body("role")
    name = name_value(spec, "role name")
    if spec.get("domain_id") is not None:
        raise InvalidSpec("Domain-specific roles are not supported.")
    role = Role(name=name)
    with unique(f"Duplicate entry: a role named {name} exists.") as s:
        if s.scalars(select(Role).where(Role.name == name)).first() is not None:
            raise Conflict(f"Duplicate entry: a role named {name} exists.")
        s.add(role)
    return jsonify({"role": role_view(role)}), 201


@bp.delete("/v3/roles/<role_id>")
def delete_role(role_id: str) -> tuple[str, int]:
    authorize(current(), "identity:roles:delete")
    with deps.db().session() as s:
        role = get_or_404(s, Role, role_id, "role")
        if role.name in BUILT_IN:
            raise Forbidden(f"The built-in role {role.name} cannot be deleted.")
        s.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role_id))
        s.delete(role)
    return "", 204
