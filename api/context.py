"""Who is calling: the token's user, project and roles, for the length of one request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import g, request
from sqlalchemy import select

from api.errors import Unauthorized
from nimbus.db import Database, Project, Role, RoleAssignment, Token, User, utcnow


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: list[str]


def token_hash(token: str) -> str:
    """Tokens are kept only as this hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def roles_of(db: Database, user_id: str, project_id: str) -> list[str]:
    with db.session() as s:
        rows = s.scalars(
            select(Role.name)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        )
        return sorted(rows)


def context_for(db: Database, token: str) -> RequestContext:
    """Validate a token; ``Unauthorized`` if unknown, expired, revoked or disabled."""
    with db.session() as s:
        row = s.get(Token, token_hash(token))
        if row is None or row.revoked or row.expires_at <= utcnow():
            raise Unauthorized("The request you have made requires authentication.")
        user, project = s.get(User, row.user_id), s.get(Project, row.project_id)
        if user is None or project is None or not user.enabled or not project.enabled:
            raise Unauthorized("The request you have made requires authentication.")
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
