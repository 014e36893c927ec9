"""Users: list (``?name=``, ``?domain_id=``, ``?enabled=``), show, create, update, delete;
a user's projects; and the password change a user makes itself.

A user may show itself, list its own projects and change its own password; everything else
is for admins. A password is only ever kept as its argon2 hash and never shown. Changing
it, or disabling the user, revokes the user's tokens, as Keystone does.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import delete, select, update

from api import deps
from api.context import current
from api.errors import Unauthorized
from api.identity import bp, ec2_credentials, lockout
from api.identity.common import (
    PASSWORD_MAX,
    USER_NAME_MAX,
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
from api.identity.ownership import refuse_while, user_references
from api.identity.views import project_view, user_view
from api.policy import authorize
from api.validation import require_str
from nimbus.db import DEFAULT_DOMAIN_ID, Project, RoleAssignment, Token, User
from nimbus.db_credentials import ApplicationCredential, Ec2Credential
from nimbus.errors import Conflict, InvalidSpec
from nimbus.passwords import hash_password

#: The fields an update may set.
_UPDATABLE = ("name", "enabled", "description", "email", "default_project_id", "password")


def _duplicate(name: str) -> str:
    return f"Duplicate entry: a user named {name} exists in its domain."


def _password(spec: dict[str, Any], key: str = "password") -> str | None:
    """An optional new password (1 to 4096 characters), or None."""
    if spec.get(key) is None:
        return None
    return require_str(spec, key, key, PASSWORD_MAX)


def _default_project(spec: dict[str, Any]) -> str | None:
    project_id = optional_id(spec, "default_project_id")
    if project_id is not None:
        with deps.db().session() as s:
            if s.get(Project, project_id) is None:
                raise InvalidSpec(f"Could not find project: {project_id}.")
    return project_id


def _revoke_tokens(s: Any, user_id: str) -> None:
    s.execute(update(Token).where(Token.user_id == user_id).values(revoked=True))


@bp.get("/v3/users")
def list_users() -> Response:
    authorize(current(), "identity:users:list")
    query = select(User).order_by(User.name)
    for key in ("name", "domain_id"):
        if key in request.args:
            query = query.where(getattr(User, key) == request.args[key])
    enabled = query_flag("enabled")
    if enabled is not None:
        query = query.where(User.enabled.is_(enabled))
    with deps.db().session() as s:
        users = [user_view(u) for u in s.scalars(query)]
    return jsonify({"users": users, "links": collection_links("users")})


@bp.get("/v3/users/<user_id>")
def show_user(user_id: str) -> Response:
    ctx = current()
    authorize(ctx, "identity:users:show_own" if user_id == ctx.user_id else "identity:users:show")
    with deps.db().session() as s:
        user = get_or_404(s, User, user_id, "user")
    return jsonify({"user": user_view(user)})


@bp.post("/v3/users")
def create_user() -> tuple[Response, int]:
    authorize(current(), "identity:users:create")
    spec = resource_body("user")
    name = name_value(spec, "user name", USER_NAME_MAX)
    password = _password(spec)
    user = User(
        name=name,
        domain_id=optional_id(spec, "domain_id") or DEFAULT_DOMAIN_ID,
        enabled=optional_bool(spec, "enabled") is not False,
        description=optional_text(spec, "description"),
        email=optional_text(spec, "email"),
        default_project_id=_default_project(spec),
        # No password: the user cannot authenticate (an empty hash verifies nothing).
        password_hash=hash_password(password) if password is not None else "",
    )
    require_domain(user.domain_id)
    with unique(_duplicate(name)) as s:
        taken = select(User).where(User.name == name, User.domain_id == user.domain_id)
        if s.scalars(taken).first() is not None:
            raise Conflict(_duplicate(name))
        s.add(user)
    return jsonify({"user": user_view(user)}), 201


def _apply(user: User, spec: dict[str, Any]) -> None:
    """Set the fields an update names; ``spec`` is already checked."""
    for key in ("name", "enabled", "description", "email", "default_project_id"):
        if key in spec:
            setattr(user, key, spec[key])


@bp.patch("/v3/users/<user_id>")
def update_user(user_id: str) -> Response:
    authorize(current(), "identity:users:update")
    spec = update_body("user", _UPDATABLE)
    checked: dict[str, Any] = {}
    if "name" in spec:
        checked["name"] = name_value(spec, "user name", USER_NAME_MAX)
    if spec.get("enabled") is not None:
        checked["enabled"] = optional_bool(spec, "enabled")
    for key in ("description", "email"):
        if key in spec:
            checked[key] = optional_text(spec, key)
    if "default_project_id" in spec:
        checked["default_project_id"] = _default_project(spec)
    password = _password(spec)
    if checked.get("enabled") is False:
        ec2_credentials.withdraw(user_id=user_id)
    with unique(_duplicate(str(checked.get("name")))) as s:
        user = get_or_404(s, User, user_id, "user")
        _apply(user, checked)
        if password is not None:
            user.password_hash = hash_password(password)
        if password is not None or checked.get("enabled") is True:
            lockout.unlock(user)  # as Keystone: an admin's new password or enable unlocks
        if password is not None or checked.get("enabled") is False:
            _revoke_tokens(s, user.id)
    return jsonify({"user": user_view(user)})


@bp.delete("/v3/users/<user_id>")
def delete_user(user_id: str) -> tuple[str, int]:
    """Delete the user with its role assignments, tokens and S3 credentials (409 while
    another service's rows, such as servers, still name it)."""
    authorize(current(), "identity:users:delete")
    with deps.db().session() as s:
        get_or_404(s, User, user_id, "user")
        held = user_references(s, user_id)
    held.pop(Ec2Credential.__tablename__, None)  # withdrawn with the user, below
    refuse_while(held, f"User {user_id} still holds")
    ec2_credentials.withdraw(user_id=user_id)
    with deps.db().session() as s:
        refuse_while(user_references(s, user_id), f"User {user_id} still holds")
        s.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user_id))
        s.execute(delete(Token).where(Token.user_id == user_id))
        s.execute(delete(ApplicationCredential).where(ApplicationCredential.user_id == user_id))
        s.execute(delete(User).where(User.id == user_id))
    return "", 204


@bp.post("/v3/users/<user_id>/password")
def change_password(user_id: str) -> tuple[str, int]:
    """A user's own password change: 401 unless ``original_password`` is right."""
    ctx = current()
    own = user_id == ctx.user_id
    authorize(ctx, "identity:users:password_own" if own else "identity:users:update")
    spec = resource_body("user")
    original = require_str(spec, "original_password", "original_password", PASSWORD_MAX)
    new = require_str(spec, "password", "password", PASSWORD_MAX)
    with deps.db().session() as s:
        user = get_or_404(s, User, user_id, "user")
    # The original password is a guess like a login's: it counts toward the lockout.
    if not lockout.check_password(deps.db(), deps.settings(), user, original):
        raise Unauthorized("The original password is not correct.")
    with deps.db().session() as s:
        user = get_or_404(s, User, user_id, "user")
        user.password_hash = hash_password(new)
        _revoke_tokens(s, user.id)
    return "", 204


@bp.get("/v3/users/<user_id>/projects")
def user_projects(user_id: str) -> Response:
    """The projects the user holds a role on."""
    ctx = current()
    own = user_id == ctx.user_id
    authorize(ctx, "identity:users:projects_own" if own else "identity:users:projects")
    with deps.db().session() as s:
        get_or_404(s, User, user_id, "user")
        query = (
            select(Project)
            .join(RoleAssignment, RoleAssignment.project_id == Project.id)
            .where(RoleAssignment.user_id == user_id)
            .distinct()
            .order_by(Project.name)
        )
        projects = [project_view(p) for p in s.scalars(query)]
    return jsonify({"projects": projects, "links": collection_links("users", user_id, "projects")})
