"""Who is calling: the token's user, project and roles, for the length of one request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import Unauthorized
from api.validation import check_url
from nimbus.db import Database, Project, Role, RoleAssignment, Token, User, utcnow
from nimbus.db_credentials import ApplicationCredential
from nimbus.tokens import token_hash


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: list[str]
    #: Had with a restricted application credential: may not manage credentials.
    restricted: bool = False


def roles_of(db: Database, user_id: str, project_id: str) -> list[str]:
    with db.session() as s:
        rows = s.scalars(
            select(Role.name)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        )
        return sorted(rows)


def live_credential(s: Session, cred_id: str) -> ApplicationCredential | None:
    """The application credential, if it exists and has not expired."""
    cred = s.get(ApplicationCredential, cred_id)
    if cred is None or (cred.expires_at is not None and cred.expires_at <= utcnow()):
        return None
    return cred


def token_roles(db: Database, row: Token, user_id: str, project_id: str) -> list[str]:
    """The names of the roles a token carries: the user's on its project, bounded by its
    application credential's delegated roles when it was had with one."""
    held = roles_of(db, user_id, project_id)
    if row.app_cred_id is None:
        return held
    with db.session() as s:
        cred = s.get(ApplicationCredential, row.app_cred_id)
        ids = list(cred.role_ids) if cred is not None else []
    return delegated_roles(db, held, ids)


def delegated_roles(db: Database, held: list[str], role_ids: list[str]) -> list[str]:
    """The delegated roles (by id) the holder still has, directly or implied by its own."""
    from api.policy import effective_roles  # policy imports this module

    with db.session() as s:
        names = set(s.scalars(select(Role.name).where(Role.id.in_(role_ids))))
    return sorted(names & effective_roles(held))


def live_token(s: Session, token: str) -> tuple[Token, User, Project | None] | None:
    """The token's row, user and project (``None``: unscoped) if it may still be used:
    known, not expired or revoked, its user (and project) enabled, and the user still
    holding a role on its project."""
    row = s.get(Token, token_hash(token))
    if row is None or row.revoked or row.expires_at <= utcnow():
        return None
    user = s.get(User, row.user_id)
    if user is None or not user.enabled:
        return None
    if row.app_cred_id is not None and live_credential(s, row.app_cred_id) is None:
        return None  # its application credential was deleted or has expired
    if row.project_id is None:
        return row, user, None
    project = s.get(Project, row.project_id)
    if project is None or not project.enabled:
        return None
    held = select(RoleAssignment).where(
        RoleAssignment.user_id == user.id, RoleAssignment.project_id == project.id
    )
    if s.scalars(held).first() is None:
        return None
    return row, user, project


def context_for(db: Database, token: str) -> RequestContext:
    """Validate a token; ``Unauthorized`` if unknown, expired, revoked or disabled."""
    with db.session() as s:
        live = live_token(s, token)
        if live is None:
            raise Unauthorized("The request you have made requires authentication.")
        row, user, project = live
        if project is None:  # unscoped: the user itself, and no role anywhere
            return RequestContext(user.id, user.name, "", "", roles=[])
        ids = (user.id, user.name, project.id, project.name)
        restricted = False
        if row.app_cred_id is not None:
            cred = s.get(ApplicationCredential, row.app_cred_id)
            restricted = cred is None or not cred.unrestricted
    roles = token_roles(db, row, ids[0], ids[2])
    if not roles:  # every delegated role has since been revoked from the user
        raise Unauthorized("The request you have made requires authentication.")
    return RequestContext(*ids, roles=roles, restricted=restricted)


View = TypeVar("View", bound=Callable[..., Any])

#: The attribute ``public`` sets on a view function.
_PUBLIC = "nimbus_public"


def public(view: View) -> View:
    """Mark a view anyone may call without a token (version documents, token issue,
    metrics, the API's description). Authentication and the OpenAPI document both read
    this mark, so the two cannot disagree about which routes are open."""
    setattr(view, _PUBLIC, True)
    return view


def is_public(view: Callable[..., Any] | None) -> bool:
    """Whether ``view`` was marked with ``public``."""
    return bool(getattr(view, _PUBLIC, False))


def public_endpoints(app: Flask) -> set[str]:
    """The endpoints of ``app`` that take no token."""
    return {name for name, view in app.view_functions.items() if is_public(view)}


def admit(db: Database) -> RequestContext | None:
    """Every service's first check of a request, in ``before_request``: its token (``None``
    on a public route, which needs none), then its URL (``api.validation.check_url``)."""
    if is_public(current_app.view_functions.get(request.endpoint or "")):
        return None
    ctx = authenticate(db)
    check_url()
    return ctx


def authenticate(db: Database) -> RequestContext:
    """The context of this request's ``X-Auth-Token``, kept in ``flask.g``."""
    token = request.headers.get("X-Auth-Token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    g.ctx = context_for(db, token)
    return g.ctx


def current() -> RequestContext:
    ctx: RequestContext = g.ctx
    return ctx
