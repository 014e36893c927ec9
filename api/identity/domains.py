"""Domains: list (``?name=``, ``?enabled=``), show, and for admins create, update, delete.

The default domain can be neither disabled, renamed nor deleted: clients name it in every
password authentication. A domain is deleted only once disabled (Keystone's rule) and
empty: Nimbus does not cascade a domain's deletion into its projects and users.
"""

from __future__ import annotations

from flask import Response, jsonify, request
from sqlalchemy import func, select

from api import deps
from api.context import current
from api.errors import Forbidden
from api.identity import bp
from api.identity.common import (
    collection_links,
    get_or_404,
    name_value,
    optional_bool,
    optional_text,
    query_flag,
    resource_body,
    unique,
    update_body,
)
from api.identity.views import domain_view
from api.policy import authorize
from nimbus.db import DEFAULT_DOMAIN_ID, Domain, Project, User
from nimbus.errors import Conflict, InvalidSpec


@bp.get("/v3/domains")
def list_domains() -> Response:
    authorize(current(), "identity:domains:list")
    query = select(Domain).order_by(Domain.name)
    if "name" in request.args:
        query = query.where(Domain.name == request.args["name"])
    enabled = query_flag("enabled")
    if enabled is not None:
        query = query.where(Domain.enabled.is_(enabled))
    with deps.db().session() as s:
        domains = [domain_view(d) for d in s.scalars(query)]
    return jsonify({"domains": domains, "links": collection_links("domains")})


@bp.get("/v3/domains/<domain_id>")
def show_domain(domain_id: str) -> Response:
    ctx = current()
    with deps.db().session() as s:
        project = s.get(Project, ctx.project_id) if ctx.project_id else None
    # Keystone lets a project-scoped token read the domain its project is in.
    own = project is not None and project.domain_id == domain_id
    authorize(ctx, "identity:domains:show_own" if own else "identity:domains:show")
    with deps.db().session() as s:
        domain = get_or_404(s, Domain, domain_id, "domain")
    return jsonify({"domain": domain_view(domain)})


@bp.post("/v3/domains")
def create_domain() -> tuple[Response, int]:
    authorize(current(), "identity:domains:create")
    spec = resource_body("domain")
    name = name_value(spec, "domain name")
    domain = Domain(
        name=name,
        description=optional_text(spec, "description") or "",
        enabled=optional_bool(spec, "enabled") is not False,
    )
    with unique(f"Duplicate entry: a domain named {name} exists.") as s:
        if s.scalars(select(Domain).where(Domain.name == name)).first() is not None:
            raise Conflict(f"Duplicate entry: a domain named {name} exists.")
        s.add(domain)
    return jsonify({"domain": domain_view(domain)}), 201


@bp.patch("/v3/domains/<domain_id>")
def update_domain(domain_id: str) -> Response:
    authorize(current(), "identity:domains:update")
    spec = update_body("domain", ("name", "description", "enabled"))
    name = name_value(spec, "domain name") if "name" in spec else None
    description = optional_text(spec, "description")
    enabled = optional_bool(spec, "enabled")
    with unique(f"Duplicate entry: a domain named {name} exists.") as s:
        domain = get_or_404(s, Domain, domain_id, "domain")
        if domain.id == DEFAULT_DOMAIN_ID and (enabled is False or name not in (None, domain.name)):
            raise Forbidden("The default domain cannot be disabled or renamed.")
        if name is not None:
            domain.name = name
        if description is not None:
            domain.description = description
        if enabled is not None:
            domain.enabled = enabled
    return jsonify({"domain": domain_view(domain)})


@bp.delete("/v3/domains/<domain_id>")
def delete_domain(domain_id: str) -> tuple[str, int]:
    authorize(current(), "identity:domains:delete")
    with deps.db().session() as s:
        domain = get_or_404(s, Domain, domain_id, "domain")
        if domain.id == DEFAULT_DOMAIN_ID:
            raise Forbidden("The default domain cannot be deleted.")
        if domain.enabled:
            raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
        owned = sum(
            s.scalar(select(func.count()).where(model.domain_id == domain.id)) or 0
            for model in (Project, User)
        )
        if owned:
            raise Conflict(f"Domain {domain.id} still holds projects or users.")
        s.delete(domain)
    return "", 204


def require_domain(domain_id: str) -> None:
    """A domain named by id in a request body must exist (400 otherwise)."""
    with deps.db().session() as s:
        domain = s.get(Domain, domain_id)
    if domain is None:
        raise InvalidSpec(f"Could not find domain: {domain_id}.")
