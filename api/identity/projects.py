"""Projects: list (``?name=``, ``?domain_id=``, ``?enabled=``), show, create, update,
delete. Members and readers may show their own project; everything else is for admins.

Only top-level projects exist (a project's parent is its domain). Deleting a project that
still owns resources answers 409 (see ``ownership``); disabling one revokes its tokens.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select, update

from api import deps
from api.context import current
from api.identity import bp, ec2_credentials
from api.identity.common import (
    collection_links,
    get_or_404,
    name_value,
    optional_bool,
    optional_id,
    optional_text,
    query_flag,
    resource_body,
    unique,
    update_body,
)
from api.identity.domains import require_domain
from api.identity.ownership import delete_project_rows, owned_resources, refuse_while
from api.identity.views import project_view
from api.policy import authorize
from nimbus.db import DEFAULT_DOMAIN_ID, Project, Token
from nimbus.db_credentials import Ec2Credential
from nimbus.errors import Conflict, InvalidSpec


def project_query() -> Any:
    """The projects the list filters of this request select, by name."""
    query = select(Project).order_by(Project.name)
    for key in ("name", "domain_id"):
        if key in request.args:
            query = query.where(getattr(Project, key) == request.args[key])
    enabled = query_flag("enabled")
    if enabled is not None:
        query = query.where(Project.enabled.is_(enabled))
    return query


@bp.get("/v3/projects")
def list_projects() -> Response:
    authorize(current(), "identity:projects:list")
    with deps.db().session() as s:
        projects = [project_view(p) for p in s.scalars(project_query())]
    return jsonify({"projects": projects, "links": collection_links("projects")})


@bp.get("/v3/projects/<project_id>")
def show_project(project_id: str) -> Response:
    ctx = current()
    own = project_id == ctx.project_id
    authorize(ctx, "identity:projects:show_own" if own else "identity:projects:show")
    with deps.db().session() as s:
        project = get_or_404(s, Project, project_id, "project")
    return jsonify({"project": project_view(project)})


def _duplicate(name: str) -> str:
    return f"Duplicate entry: a project named {name} exists in its domain."


def _check_hierarchy(spec: dict[str, Any], domain_id: str) -> None:
    """Nested projects and projects acting as domains are not supported."""
    if optional_bool(spec, "is_domain"):
        raise InvalidSpec("Projects acting as domains are not supported.")
    parent = optional_id(spec, "parent_id")
    if parent is not None and parent != domain_id:
        raise InvalidSpec("Nested projects are not supported: parent_id must be the domain.")


@bp.post("/v3/projects")
def create_project() -> tuple[Response, int]:
    authorize(current(), "identity:projects:create")
    spec = resource_body("project")
    name = name_value(spec, "project name")
    domain_id = optional_id(spec, "domain_id") or DEFAULT_DOMAIN_ID
    _check_hierarchy(spec, domain_id)
    project = Project(
        name=name,
        domain_id=domain_id,
        description=optional_text(spec, "description") or "",
        enabled=optional_bool(spec, "enabled") is not False,
    )
    require_domain(domain_id)
    with unique(_duplicate(name)) as s:
        taken = select(Project).where(Project.name == name, Project.domain_id == domain_id)
        if s.scalars(taken).first() is not None:
            raise Conflict(_duplicate(name))
        s.add(project)
    return jsonify({"project": project_view(project)}), 201


@bp.patch("/v3/projects/<project_id>")
def update_project(project_id: str) -> Response:
    authorize(current(), "identity:projects:update")
    spec = update_body("project", ("name", "description", "enabled"))
    name = name_value(spec, "project name") if "name" in spec else None
    description = optional_text(spec, "description")
    enabled = optional_bool(spec, "enabled")
    if enabled is False:
        ec2_credentials.withdraw(project_id=project_id)
    with unique(_duplicate(str(name))) as s:
        project = get_or_404(s, Project, project_id, "project")
        if name is not None:
            project.name = name
        if description is not None:
            project.description = description
        if enabled is not None:
            project.enabled = enabled
        if enabled is False:
            # Keystone revokes a disabled project's tokens: enabling it again revives none.
            revoke = update(Token).where(Token.project_id == project.id).values(revoked=True)
            s.execute(revoke)
    return jsonify({"project": project_view(project)})


@bp.delete("/v3/projects/<project_id>")
def delete_project(project_id: str) -> tuple[str, int]:
    authorize(current(), "identity:projects:delete")
    with deps.db().session() as s:
        get_or_404(s, Project, project_id, "project")
        owned = owned_resources(s, project_id)
    owned.pop(Ec2Credential.__tablename__, None)  # withdrawn with the project, below
    refuse_while(owned, f"Project {project_id} still owns resources")
    ec2_credentials.withdraw(project_id=project_id)
    with deps.db().session() as s:
        refuse_while(owned_resources(s, project_id), f"Project {project_id} still owns resources")
        delete_project_rows(s, project_id)
    return "", 204
