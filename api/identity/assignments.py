"""Role assignments of users on projects: grant, check, revoke, list a user's roles on a
project, and ``/v3/role_assignments`` with Keystone's filters.

Only project-scoped user assignments exist. Domain-scoped grants answer 400 (they would
give no access here: every token is scoped to a project); group and system filters match
nothing. ``effective`` adds the roles the assigned ones imply (admin > member > reader).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from api import deps
from api.context import current
from api.identity import application_credentials, bp, ec2_credentials
from api.identity.common import collection_links, get_or_404, query_flag, url
from api.identity.views import role_view
from api.policy import authorize, effective_roles
from nimbus.db import Domain, Project, Role, RoleAssignment, User
from nimbus.errors import InvalidSpec, NotFound

_GRANT = "/v3/projects/<project_id>/users/<user_id>/roles/<role_id>"
_DOMAIN_GRANT = "/v3/domains/<domain_id>/users/<user_id>/roles"


def _check_parts(project_id: str, user_id: str, role_id: str | None = None) -> None:
    """404 for whichever of the project, user and role does not exist."""
    with deps.db().session() as s:
        get_or_404(s, Project, project_id, "project")
        get_or_404(s, User, user_id, "user")
        if role_id is not None:
            get_or_404(s, Role, role_id, "role")


@bp.put(_GRANT)
def grant_role(project_id: str, user_id: str, role_id: str) -> tuple[str, int]:
    """Grant the role; granting one already held changes nothing."""
    authorize(current(), "identity:assignments:grant")
    _check_parts(project_id, user_id, role_id)
    with deps.db().session() as s:
        if s.get(RoleAssignment, (user_id, project_id, role_id)) is None:
            s.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
    return "", 204


@bp.route(_GRANT, methods=["GET", "HEAD"])
def check_role(project_id: str, user_id: str, role_id: str) -> tuple[str, int]:
    authorize(current(), "identity:assignments:check")
    _check_parts(project_id, user_id, role_id)
    with deps.db().session() as s:
        if s.get(RoleAssignment, (user_id, project_id, role_id)) is None:
            raise NotFound(f"User {user_id} has no role {role_id} on project {project_id}.")
    return "", 204


@bp.delete(_GRANT)
def revoke_role(project_id: str, user_id: str, role_id: str) -> tuple[str, int]:
    authorize(current(), "identity:assignments:revoke")
    _check_parts(project_id, user_id, role_id)
    with deps.db().session() as s:
        assignment = s.get(RoleAssignment, (user_id, project_id, role_id))
        if assignment is None:
            raise NotFound(f"User {user_id} has no role {role_id} on project {project_id}.")
    if not ec2_credentials.may_write_after(user_id, project_id, role_id):
        ec2_credentials.withdraw(user_id, project_id)
    with deps.db().session() as s:
        assignment = s.get(RoleAssignment, (user_id, project_id, role_id))
        if assignment is not None:
            s.delete(assignment)
            s.flush()
            remaining = select(RoleAssignment).where(
                RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id
            )
            if s.scalars(remaining).first() is None:  # no role left there: nothing to delegate
                application_credentials.forget_for(s, user_id=user_id, project_id=project_id)
    return "", 204


@bp.get("/v3/projects/<project_id>/users/<user_id>/roles")
def project_user_roles(project_id: str, user_id: str) -> Response:
    authorize(current(), "identity:assignments:list")
    _check_parts(project_id, user_id)
    query = (
        select(Role)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.project_id == project_id, RoleAssignment.user_id == user_id)
        .order_by(Role.name)
    )
    with deps.db().session() as s:
        roles = [role_view(r) for r in s.scalars(query)]
    links = collection_links("projects", project_id, "users", user_id, "roles")
    return jsonify({"roles": roles, "links": links})


@bp.get(_DOMAIN_GRANT)
@bp.route(_DOMAIN_GRANT + "/<role_id>", methods=["GET", "HEAD", "PUT", "DELETE"])
def domain_roles(domain_id: str, user_id: str, role_id: str | None = None) -> Response:
    authorize(current(), "identity:assignments:grant")
    raise InvalidSpec(
        "Domain-scoped role assignments are not supported: assign the role on a project."
    )


def _domain(domains: dict[str, str], domain_id: str) -> dict[str, str]:
    return {"id": domain_id, "name": domains.get(domain_id, domain_id)}


def _entry(row: Any, role: Role, names: bool, domains: dict[str, str]) -> dict[str, Any]:
    """One assignment as Keystone lists it; with names, each part's name and domain."""
    assignment, user, project = row
    entry: dict[str, Any] = {
        "role": {"id": role.id},
        "user": {"id": user.id},
        "scope": {"project": {"id": project.id}},
        "links": {"assignment": url("projects", project.id, "users", user.id, "roles", role.id)},
    }
    if role.id != assignment.role_id:
        entry["links"]["prior_role"] = url("roles", assignment.role_id)
    if names:
        entry["role"]["name"] = role.name
        entry["user"].update(name=user.name, domain=_domain(domains, user.domain_id))
        scope = entry["scope"]["project"]
        scope.update(name=project.name, domain=_domain(domains, project.domain_id))
    return entry


def _assignment_rows() -> Any:
    """Assignments with their user and project, narrowed by the request's filters."""
    query = (
        select(RoleAssignment, User, Project)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Project, Project.id == RoleAssignment.project_id)
        .order_by(User.name, Project.name, RoleAssignment.role_id)
    )
    if "user.id" in request.args:
        query = query.where(RoleAssignment.user_id == request.args["user.id"])
    if "scope.project.id" in request.args:
        query = query.where(RoleAssignment.project_id == request.args["scope.project.id"])
    return query


def _matches_nothing() -> bool:
    """Filters for assignments that cannot exist here: group, domain or system ones."""
    return any(k in request.args for k in ("group.id", "scope.domain.id", "scope.system"))


@bp.get("/v3/role_assignments")
def list_role_assignments() -> Response:
    authorize(current(), "identity:assignments:list")
    effective, names = bool(query_flag("effective")), bool(query_flag("include_names"))
    wanted_role = request.args.get("role.id")
    entries: list[dict[str, Any]] = []
    with deps.db().session() as s:
        roles = {r.id: r for r in s.scalars(select(Role))}
        by_name = {r.name: r for r in roles.values()}
        domains = {d.id: d.name for d in s.scalars(select(Domain))}
        rows = [] if _matches_nothing() else s.execute(_assignment_rows()).all()
    for row in rows:
        role = roles[row[0].role_id]
        held = [role]
        if effective:
            implied = sorted(effective_roles([role.name]) - {role.name})
            held += [by_name[n] for n in implied if n in by_name]
        for each in held:
            if wanted_role is None or each.id == wanted_role:
                entries.append(_entry(row, each, names, domains))
    return jsonify({"role_assignments": entries, "links": collection_links("role_assignments")})
