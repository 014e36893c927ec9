"""Tokens had with a password, a token or an application credential: issue, validate,
revoke; and the catalog and projects of a token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Response, g, jsonify, request
from sqlalchemy import func, select

from api import deps
from api.catalog import build_catalog
from api.context import (
    current,
    delegated_roles,
    live_credential,
    live_token,
    public,
    roles_of,
    token_roles,
)
from api.errors import Unauthorized
from api.identity import bp, lockout
from api.identity.views import project_view
from api.policy import authorize
from api.validation import json_body, require_dict, require_str
from nimbus import tokens
from nimbus.db import DEFAULT_DOMAIN_ID, Domain, Project, Role, RoleAssignment, Token, User
from nimbus.db_credentials import ApplicationCredential
from nimbus.errors import InvalidSpec, NotFound
from nimbus.passwords import verify_password

_BAD_CREDENTIALS = "The request you have made requires authentication."


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _domain_id(spec: Any) -> str | None:
    """The id of the domain a credential names by id or name (none named: the default)."""
    if spec is None:
        return DEFAULT_DOMAIN_ID
    if not isinstance(spec, dict):
        raise InvalidSpec("'domain' must be an object.")
    if "id" in spec:
        return require_str(spec, "id", "domain id")
    name = require_str(spec, "name", "domain name")
    # Case-insensitive, as Keystone on MySQL is: clients write both "Default" and "default".
    with deps.db().session() as s:
        query = select(Domain.id).where(func.lower(Domain.name) == name.lower())
        return s.scalars(query).first()


def _find_user(spec: dict[str, Any]) -> User:
    with deps.db().session() as s:
        if "id" in spec:
            user = s.get(User, require_str(spec, "id", "user id"))
        else:
            name = require_str(spec, "name", "user name")
            domain_id = _domain_id(spec.get("domain"))
            query = select(User).where(User.name == name, User.domain_id == domain_id)
            user = s.scalars(query).first()
        domain = s.get(Domain, user.domain_id) if user is not None else None
    if user is None or not user.enabled or domain is None or not domain.enabled:
        raise Unauthorized(_BAD_CREDENTIALS)
    return user


def _find_project(scope: dict[str, Any] | None, user: User) -> Project:
    with deps.db().session() as s:
        if scope is None:
            project = s.get(Project, user.default_project_id) if user.default_project_id else None
        else:
            spec = require_dict(scope, "project", "scope.project")
            if "id" in spec:
                project = s.get(Project, require_str(spec, "id", "project id"))
            else:
                name = require_str(spec, "name", "project name")
                domain_id = _domain_id(spec.get("domain"))
                query = select(Project).where(Project.name == name, Project.domain_id == domain_id)
                project = s.scalars(query).first()
    if project is None or not project.enabled:
        raise Unauthorized("The request you have made requires authentication: unknown scope.")
    return project


@dataclass(frozen=True)
class _Authenticated:
    """Who a token request proves to be, and how: with a live token it re-scopes, or with
    an application credential (which fixes the scope), or else a password."""

    user: User
    parent: Token | None = None
    credential: ApplicationCredential | None = None

    @property
    def methods(self) -> tuple[str, ...]:
        if self.parent is not None:
            return ("token",)
        return ("application_credential",) if self.credential is not None else ("password",)


def _authenticated(auth: dict[str, Any]) -> _Authenticated:
    identity = require_dict(auth, "identity", "auth.identity")
    methods = identity.get("methods")
    if methods == ["token"]:
        return _token_user(identity)
    if methods == ["application_credential"]:
        return _credential_user(identity)
    if methods != ["password"]:
        raise InvalidSpec(
            "the supported authentication methods are password, token and application_credential"
        )
    return _Authenticated(_password_user(identity))


def _credential_user(identity: dict[str, Any]) -> _Authenticated:
    """The ``application_credential`` method: the credential by id, or by name and its
    user, and its secret; the credential live and its user enabled."""
    spec = require_dict(identity, "application_credential", "auth.identity.application_credential")
    secret = require_str(spec, "secret", "application credential secret", max_len=4096)
    if "id" in spec:
        cred_id: str | None = require_str(spec, "id", "application credential id")
    else:
        name = require_str(spec, "name", "application credential name")
        user = _find_user(require_dict(spec, "user", "application_credential.user"))
        with deps.db().session() as s:
            query = select(ApplicationCredential.id).where(
                ApplicationCredential.user_id == user.id, ApplicationCredential.name == name
            )
            cred_id = s.scalars(query).first()
    with deps.db().session() as s:
        cred = live_credential(s, cred_id) if cred_id else None
    if cred is None:
        raise Unauthorized(_BAD_CREDENTIALS)
    user = _find_user({"id": cred.user_id})
    g.audit_subject = {"user_id": user.id, "user_name": user.name}
    if not verify_password(cred.secret_hash, secret):
        raise Unauthorized(_BAD_CREDENTIALS)
    return _Authenticated(user, credential=cred)


def _token_user(identity: dict[str, Any]) -> _Authenticated:
    """The ``token`` method: a live token (scoped or not) of an enabled user."""
    spec = require_dict(identity, "token", "auth.identity.token")
    token = require_str(spec, "id", "token id", max_len=4096)
    with deps.db().session() as s:
        live = live_token(s, token)
    if live is None:
        raise Unauthorized(_BAD_CREDENTIALS)
    parent, user, _ = live
    g.audit_subject = {"user_id": user.id, "user_name": user.name}
    if parent.app_cred_id is not None:
        raise Unauthorized("A token had with an application credential cannot be re-scoped.")
    return _Authenticated(user, parent=parent)


def _password_user(identity: dict[str, Any]) -> User:
    password = require_dict(identity, "password", "auth.identity.password")
    spec = require_dict(password, "user", "auth.identity.password.user")
    secret = require_str(spec, "password", "password", max_len=4096)
    if isinstance(spec.get("name"), str):  # the audit trail names who tried, never with what
        g.audit_subject = {"user_name": spec["name"][:255]}
    user = _find_user(spec)
    g.audit_subject = {"user_id": user.id, "user_name": user.name}
    # A locked-out user is answered as a wrong password is: the lock tells a guesser nothing.
    if not lockout.check_password(deps.db(), deps.settings(), user, secret):
        raise Unauthorized(_BAD_CREDENTIALS)
    return user


@bp.post("/v3/auth/tokens")
@public
def issue_token() -> tuple[Response, int, dict[str, str]]:
    auth = require_dict(json_body(), "auth", "auth")
    who = _authenticated(auth)
    user, cred = who.user, who.credential
    if cred is None:
        project = _scope(auth.get("scope"), user)
    elif auth.get("scope") is not None:
        raise Unauthorized("Application credentials cannot request a scope.")
    else:
        project = _find_project({"project": {"id": cred.project_id}}, user)
    roles: list[str] = []
    if project is not None:
        g.audit_subject["project_id"] = project.id
        roles = roles_of(deps.db(), user.id, project.id)
        if cred is not None:
            roles = delegated_roles(deps.db(), roles, list(cred.role_ids))
        if not roles:
            raise Unauthorized(f"User {user.id} has no access to project {project.id}")
    lifetime = dt.timedelta(seconds=deps.settings().token_ttl_seconds)
    with deps.db().session() as s:
        token, row = tokens.issue(
            s,
            user.id,
            project.id if project else None,
            lifetime,
            who.methods,
            who.parent,
            app_cred_id=cred.id if cred is not None else None,
            not_after=cred.expires_at if cred is not None else None,
        )
    body = _token_body(user, project, roles, row)
    return jsonify(body), 201, {"X-Subject-Token": token}


def _scope(scope: Any, user: User) -> Project | None:
    """The project a new token is for: the one named, else the user's default project;
    ``None`` (unscoped) when asked for (``"unscoped"``, as Horizon asks) or when the user
    has no default project, as Keystone does."""
    if scope == "unscoped":
        return None
    if scope is not None and not isinstance(scope, dict):
        raise InvalidSpec('auth.scope must be an object or "unscoped"')
    if scope is None and not user.default_project_id:
        return None
    return _find_project(scope, user)


def _domain_ref(domain_id: str) -> dict[str, str]:
    with deps.db().session() as s:
        domain = s.get(Domain, domain_id)
    return {"id": domain_id, "name": domain.name if domain else domain_id}


def _token_body(
    user: User, project: Project | None, roles: list[str], row: Token
) -> dict[str, Any]:
    """Keystone's token document; the same at issue and at validation (an unscoped token
    has no project, roles or catalog)."""
    body: dict[str, Any] = {
        "methods": list(row.methods or ["password"]),
        "expires_at": _iso(row.expires_at),
        "issued_at": _iso(row.issued_at),
        "audit_ids": list(row.audit_ids or []),
        "user": {
            "id": user.id,
            "name": user.name,
            "domain": _domain_ref(user.domain_id),
            "password_expires_at": None,
        },
    }
    if row.app_cred_id is not None:
        with deps.db().session() as s:
            cred = s.get(ApplicationCredential, row.app_cred_id)
        if cred is not None:
            body["application_credential"] = {
                "id": cred.id,
                "name": cred.name,
                "restricted": not cred.unrestricted,
            }
    if project is None:
        return {"token": body}
    with deps.db().session() as s:
        role_rows = s.scalars(select(Role).where(Role.name.in_(roles))).all()
        role_list = [{"id": r.id, "name": r.name} for r in role_rows]
    body.update(
        project={"id": project.id, "name": project.name, "domain": _domain_ref(project.domain_id)},
        roles=role_list,
        is_domain=False,
        catalog=build_catalog(deps.settings(), project.id),
    )
    return {"token": body}


def _subject() -> tuple[str, Token, User, Project | None]:
    """The live ``X-Subject-Token`` and its rows; only an admin may see another user's."""
    subject = request.headers.get("X-Subject-Token", "")
    with deps.db().session() as s:
        live = live_token(s, subject)
    if live is None:
        raise NotFound("Could not find token.")
    ctx = current()
    authorize(ctx, "identity:tokens:own" if live[1].id == ctx.user_id else "identity:tokens:any")
    return subject, *live


@bp.route("/v3/auth/tokens", methods=["GET", "HEAD"])
def validate_token() -> tuple[Response, int, dict[str, str]]:
    subject, row, user, project = _subject()
    roles = token_roles(deps.db(), row, user.id, project.id) if project else []
    body = _token_body(user, project, roles, row)
    return jsonify(body), 200, {"X-Subject-Token": subject}


@bp.delete("/v3/auth/tokens")
def revoke_token() -> tuple[str, int]:
    _, row, _, _ = _subject()
    with deps.db().session() as s:
        stored = s.get(Token, row.token_hash)
        if stored is not None:
            stored.revoked = True
    return "", 204


@bp.get("/v3/auth/catalog")
def catalog() -> Response:
    ctx = current()
    authorize(ctx, "identity:auth:catalog")
    return jsonify({"catalog": build_catalog(deps.settings(), ctx.project_id)})


@bp.get("/v3/auth/projects")
def auth_projects() -> Response:
    """The enabled projects the token's user holds a role on."""
    ctx = current()
    authorize(ctx, "identity:auth:projects")
    with deps.db().session() as s:
        query = (
            select(Project)
            .join(RoleAssignment, RoleAssignment.project_id == Project.id)
            .where(RoleAssignment.user_id == ctx.user_id, Project.enabled.is_(True))
            .distinct()
            .order_by(Project.name)
        )
        projects = [project_view(p) for p in s.scalars(query)]
    return jsonify({"projects": projects, "links": {"self": request.base_url}})
