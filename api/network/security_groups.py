"""Security groups: list, show, create, update, delete. Every project has a ``default``
group, made on first use; a new group allows all egress and no ingress."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import deps, quotas
from api.context import RequestContext, current
from api.network import bp, faults, views
from api.network.access import find_group, project_scope
from api.network.common import (
    bool_field,
    fields,
    filtered,
    is_admin,
    listing,
    realise,
    spec_of,
    target_project,
    text_field,
)
from api.policy import authorize
from api.validation import require_str
from nimbus.db import Project
from nimbus.db_network import Port, SecurityGroup, SecurityGroupRule, as_dict
from nimbus.errors import Conflict
from workflows import net_starter

DEFAULT = "default"

_FILTERS = {
    "id": SecurityGroup.id,
    "name": SecurityGroup.name,
    "description": SecurityGroup.description,
    "project_id": SecurityGroup.project_id,
    "tenant_id": SecurityGroup.project_id,
}


def _egress(group: SecurityGroup) -> list[SecurityGroupRule]:
    return [
        SecurityGroupRule(
            project_id=group.project_id,
            security_group_id=group.id,
            direction="egress",
            ethertype=ethertype,
        )
        for ethertype in ("IPv4", "IPv6")
    ]


def _ingress_from_itself(group: SecurityGroup) -> list[SecurityGroupRule]:
    return [
        SecurityGroupRule(
            project_id=group.project_id,
            security_group_id=group.id,
            direction="ingress",
            ethertype=ethertype,
            remote_group_id=group.id,
        )
        for ethertype in ("IPv4", "IPv6")
    ]


def ensure_default(project_id: str) -> str:
    """The id of the project's ``default`` group, made now if it has none (a concurrent
    request making it too loses on the unique ``default_for`` and reads the winner's)."""
    query = select(SecurityGroup.id).where(SecurityGroup.default_for == project_id)
    with deps.db().session() as s:
        found = s.scalars(query).first()
    if found is not None:
        return found
    try:
        with deps.db().session() as s:
            group = SecurityGroup(
                project_id=project_id,
                name=DEFAULT,
                description="Default security group",
                default_for=project_id,
            )
            s.add(group)
            s.flush()
            s.add_all([*_ingress_from_itself(group), *_egress(group)])
            return group.id
    except IntegrityError:
        with deps.db().session() as s:
            return s.scalars(query).one()


def _list_scope(ctx: RequestContext) -> ColumnElement[bool]:
    """Whose groups a list shows. Unlike Neutron, an admin lists its own project's groups
    unless it names a project or asks for all: every project has a group named
    ``default``, and clients find groups by name (``security group rule create ...
    default`` would otherwise be ambiguous for an admin)."""
    if not is_admin(ctx):
        return project_scope(SecurityGroup, ctx)
    wide = request.args.get("all_projects") or request.args.get("all_tenants")
    if wide or request.args.get("project_id") or request.args.get("tenant_id"):
        return true()
    return SecurityGroup.project_id == ctx.project_id


def show(group_id: str, ctx: RequestContext) -> dict[str, Any]:
    with deps.db().session() as s:
        return views.group_views(s, [find_group(s, group_id, ctx)])[0]


def _looked_at(ctx: RequestContext) -> str | None:
    """The project whose ``default`` group a list makes sure of: the caller's, or the one
    an admin names if it exists (no group is made for a project that does not)."""
    named = request.args.get("project_id") or request.args.get("tenant_id")
    if not named or not is_admin(ctx):
        return ctx.project_id
    with deps.db().session() as s:
        return named if s.get(Project, named) is not None else None


@bp.get("/v2.0/security-groups")
def list_groups() -> Response:
    ctx = current()
    authorize(ctx, "network:security_groups:list")
    looked_at = _looked_at(ctx)
    if looked_at is not None:
        ensure_default(looked_at)
    query = filtered(select(SecurityGroup).where(_list_scope(ctx)), _FILTERS)
    with deps.db().session() as s:
        rows = s.scalars(query.order_by(SecurityGroup.created_at, SecurityGroup.id)).all()
        return listing("security_groups", views.group_views(s, rows))


@bp.get("/v2.0/security-groups/<group_id>")
def show_group(group_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:security_groups:show")
    ensure_default(ctx.project_id)
    return jsonify({"security_group": fields(show(group_id, ctx))})


@bp.post("/v2.0/security-groups")
def create_group() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "network:security_groups:create")
    spec = spec_of("security_group")
    name = require_str(spec, "name", "name")
    if name == DEFAULT:
        raise faults.SecurityGroupDefaultAlreadyExists()
    if not bool_field(spec, "stateful", True):
        raise faults.NotSupported("Stateless security groups are not supported.")
    project = target_project(spec, ctx)
    ensure_default(project)
    with deps.db().session() as s:
        quotas.charge(s, project, {"security_group": 1})
        group = SecurityGroup(
            project_id=project, name=name, description=text_field(spec, "description")
        )
        s.add(group)
        s.flush()
        s.add_all(_egress(group))
    return jsonify({"security_group": show(group.id, ctx)}), 201


@bp.put("/v2.0/security-groups/<group_id>")
def update_group(group_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:security_groups:update")
    spec = spec_of("security_group")
    unknown = set(spec) - {"name", "description"}
    if unknown:
        raise faults.NotSupported(f"Updating {', '.join(sorted(unknown))} is not supported.")
    with deps.db().session() as s:
        group = find_group(s, group_id, ctx)
        name = text_field(spec, "name", group.name)
        if group.default_for is not None and name != DEFAULT:
            raise Conflict("The default security group cannot be renamed.")
        if group.default_for is None and name == DEFAULT and name != group.name:
            raise faults.SecurityGroupDefaultAlreadyExists()
        group.name, group.description = name, text_field(spec, "description", group.description)
    return jsonify({"security_group": show(group_id, ctx)})


def ports_using(s: Session, group_id: str) -> list[str]:
    """The ports whose security groups include ``group_id``."""
    ports = s.execute(select(Port.id, Port.security_group_ids)).all()
    return [port_id for port_id, groups in ports if group_id in (groups or [])]


@bp.delete("/v2.0/security-groups/<group_id>")
def delete_group(group_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "network:security_groups:delete")
    with deps.db().session() as s:
        group = find_group(s, group_id, ctx)
        if group.default_for is not None and not is_admin(ctx):
            raise faults.SecurityGroupCannotRemoveDefault()
        if ports_using(s, group_id):
            raise faults.SecurityGroupInUse(group_id)
        rules = s.scalars(
            select(SecurityGroupRule).where(
                (SecurityGroupRule.security_group_id == group_id)
                | (SecurityGroupRule.remote_group_id == group_id)
            )
        ).all()
        saved = [(SecurityGroup, as_dict(group))] + [(SecurityGroupRule, as_dict(r)) for r in rules]
        others = sorted({r.security_group_id for r in rules} - {group_id})
        for row in rules:
            s.delete(row)
        s.flush()
        s.delete(group)
        project = group.project_id
    realise(lambda c: _sync_deleted(c, project, group_id, others), lambda: _reinsert(saved))
    return "", 204


async def _sync_deleted(client: Any, project_id: str, group_id: str, others: list[str]) -> None:
    """Forget the deleted group, and resync groups that had rules naming it as remote."""
    await net_starter.sync_security_group(client, project_id, group_id, deleted=True)
    for other in others:
        await net_starter.sync_security_group(client, project_id, other)


def _reinsert(saved: list[tuple[Any, dict[str, Any]]]) -> None:
    """Put back rows deleted by a request whose workflow could not run."""
    with deps.db().session() as s:
        for model, values in saved:
            if s.get(model, values["id"]) is None:
                s.add(model(**values))
                s.flush()
