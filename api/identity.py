"""Identity, Keystone v3 shape: version documents and password tokens with the catalog."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from api import deps
from api.catalog import build_catalog
from api.context import context_for, roles_of, token_hash
from api.errors import Unauthorized
from api.validation import json_body, require_dict, require_str
from nimbus.db import Project, Role, Token, User, utcnow
from nimbus.errors import InvalidSpec, NotFound
from nimbus.passwords import verify_password

bp = Blueprint("identity", __name__)

_BAD_CREDENTIALS = "The request you have made requires authentication."


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _version() -> dict[str, Any]:
    href = deps.settings().public_url + "/identity/v3/"
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": href}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


@bp.get("")
@bp.get("/")
def versions() -> tuple[Response, int]:
    return jsonify({"versions": {"values": [_version()]}}), 300


@bp.get("/v3")
@bp.get("/v3/")
def version() -> Response:
    return jsonify({"version": _version()})


def _domain_matches(spec: dict[str, Any] | None, domain_id: str) -> bool:
    """A domain given by id or name; Keystone's default domain is id 'default', name 'Default'."""
    if spec is None:
        return domain_id == "default"
    if "id" in spec:
        return bool(spec["id"] == domain_id)
    return domain_id == "default" and str(spec.get("name", "")).lower() == "default"


def _find_user(spec: dict[str, Any]) -> User:
    with deps.db().session() as s:
        if "id" in spec:
            user = s.get(User, require_str(spec, "id", "user id"))
        else:
            name = require_str(spec, "name", "user name")
            users = s.scalars(select(User).where(User.name == name)).all()
            user = next(
                (u for u in users if _domain_matches(spec.get("domain"), u.domain_id)), None
            )
    if user is None or not user.enabled:
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
                found = s.scalars(select(Project).where(Project.name == name)).all()
                project = next(
                    (p for p in found if _domain_matches(spec.get("domain"), p.domain_id)), None
                )
    if project is None or not project.enabled:
        raise Unauthorized("The request you have made requires authentication: unknown scope.")
    return project


def _password_user(auth: dict[str, Any]) -> User:
    identity = require_dict(auth, "identity", "auth.identity")
    methods = identity.get("methods")
    if methods != ["password"]:
        raise InvalidSpec("only the password authentication method is supported")
    password = require_dict(identity, "password", "auth.identity.password")
    spec = require_dict(password, "user", "auth.identity.password.user")
    secret = require_str(spec, "password", "password")
    user = _find_user(spec)
    if not verify_password(user.password_hash, secret):
        raise Unauthorized(_BAD_CREDENTIALS)
    return user


@bp.post("/v3/auth/tokens")
def issue_token() -> tuple[Response, int, dict[str, str]]:
    auth = require_dict(json_body(), "auth", "auth")
    user = _password_user(auth)
    scope = auth.get("scope")
    if scope is not None and not isinstance(scope, dict):
        raise InvalidSpec("auth.scope must be an object")
    project = _find_project(scope, user)
    roles = roles_of(deps.db(), user.id, project.id)
    if not roles:
        raise Unauthorized(f"User {user.id} has no access to project {project.id}")
    token, issued = secrets.token_urlsafe(32), utcnow()
    expires = issued + dt.timedelta(seconds=deps.settings().token_ttl_seconds)
    with deps.db().session() as s:
        s.add(
            Token(
                token_hash=token_hash(token),
                user_id=user.id,
                project_id=project.id,
                issued_at=issued,
                expires_at=expires,
            )
        )
    body = _token_body(user, project, roles, issued, expires)
    return jsonify(body), 201, {"X-Subject-Token": token}


def _token_body(
    user: User, project: Project, roles: list[str], issued: dt.datetime, expires: dt.datetime
) -> dict[str, Any]:
    domain = {"id": "default", "name": "Default"}
    with deps.db().session() as s:
        role_rows = s.scalars(select(Role).where(Role.name.in_(roles))).all()
        role_list = [{"id": r.id, "name": r.name} for r in role_rows]
    return {
        "token": {
            "methods": ["password"],
            "expires_at": _iso(expires),
            "issued_at": _iso(issued),
            "audit_ids": [secrets.token_urlsafe(16)],
            "user": {
                "id": user.id,
                "name": user.name,
                "domain": domain,
                "password_expires_at": None,
            },
            "project": {"id": project.id, "name": project.name, "domain": domain},
            "roles": role_list,
            "is_domain": False,
            "catalog": build_catalog(deps.settings(), project.id),
        }
    }


def _subject() -> tuple[str, Token]:
    context_for(deps.db(), request.headers.get("X-Auth-Token", ""))
    subject = request.headers.get("X-Subject-Token", "")
    with deps.db().session() as s:
        row = s.get(Token, token_hash(subject))
    if row is None or row.revoked or row.expires_at <= utcnow():
        raise NotFound("Could not find token.")
    return subject, row


@bp.route("/v3/auth/tokens", methods=["GET", "HEAD"])
def validate_token() -> tuple[Response, int, dict[str, str]]:
    subject, row = _subject()
    with deps.db().session() as s:
        user, project = s.get(User, row.user_id), s.get(Project, row.project_id)
    assert user is not None and project is not None
    roles = roles_of(deps.db(), user.id, project.id)
    body = _token_body(user, project, roles, row.issued_at, row.expires_at)
    return jsonify(body), 200, {"X-Subject-Token": subject}


@bp.delete("/v3/auth/tokens")
def revoke_token() -> tuple[str, int]:
    _, row = _subject()
    with deps.db().session() as s:
        stored = s.get(Token, row.token_hash)
        if stored is not None:
            stored.revoked = True
    return "", 204


@bp.get("/v3/auth/catalog")
def catalog() -> Response:
    ctx = context_for(deps.db(), request.headers.get("X-Auth-Token", ""))
    return jsonify({"catalog": build_catalog(deps.settings(), ctx.project_id)})


@bp.get("/v3/auth/projects")
def auth_projects() -> Response:
    ctx = context_for(deps.db(), request.headers.get("X-Auth-Token", ""))
    project = {
        "id": ctx.project_id,
        "name": ctx.project_name,
        "domain_id": "default",
        "enabled": True,
        "is_domain": False,
        "links": {},
    }
    return jsonify({"projects": [project]})
