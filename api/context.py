"""Who is calling: the token's user, project and roles, for the length of one request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import Unauthorized
from nimbus.db import Database, Project, Role, RoleAssignment, Token, User, utcnow
from nimbus.tokens import token_hash


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: list[str]


def roles_of(db: Database, user_id: str, project_id: str) -> list[str]:
    with db.session() as s:
        rows = s.scalars(
            select(Role.name)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        )
        return sorted(rows)


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
        _, user, project = live
        if project is None:  # unscoped: the user itself, and no role anywhere
            return RequestContext(user.id, user.name, "", "", roles=[])
        ids = (user.id, user.name, project.id, project.name)
    return RequestContext(*ids, roles=roles_of(db, ids[0], ids[2]))


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
