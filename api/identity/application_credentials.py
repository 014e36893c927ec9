"""Keystone's application credentials (``/v3/users/{user_id}/application_credentials``).

A user delegates some of its roles on the project its token is scoped to (all of them
unless it names some) to an application, which then authenticates with the credential's
id, or name and user, and secret: ``openstack application credential create``, then
``OS_AUTH_TYPE=v3applicationcredential``. The secret, given or generated, is returned once
and kept only as a hash. A user manages its own credentials; an admin may read and delete
anyone's; nobody creates one for another user, as in Keystone. A token had with a
restricted credential (the default) may not create or delete credentials.

Deleting a credential, or its expiry, ends the tokens had with it (they name it, and a
token whose credential is gone is no longer live).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import delete, select

from api import deps, policy
from api.context import RequestContext, current
from api.errors import Forbidden
from api.identity import bp
from api.identity.common import (
    DESCRIPTION_MAX,
    collection_links,
    name_value,
    optional_bool,
    optional_text,
    resource_body,
    unique,
    url,
)
from nimbus.db import Role, Token, User, utcnow
from nimbus.db_credentials import ApplicationCredential
from nimbus.errors import Conflict, InvalidSpec, NotFound
from nimbus.passwords import hash_password
from nimbus.tokens import cli_safe_secret

PATH = "/v3/users/<user_id>/application_credentials"
SECRET_MAX = 4096


def _owner(user_id: str, write: bool = False) -> RequestContext:
    """The caller, if it may see ``user_id``'s credentials (itself, or an admin reading or
    deleting); 404 for an unknown user."""
    ctx = current()
    with deps.db().session() as s:
        if s.get(User, user_id) is None:
            raise NotFound(f"Could not find user: {user_id}.")
    if ctx.user_id != user_id and not policy.allowed(
        ctx, "identity:application_credentials:all_users"
    ):
        raise Forbidden("You are not authorized to manage another user's credentials.")
    if write and ctx.restricted:
        raise Forbidden(
            "A token had with a restricted application credential may not manage "
            "application credentials."
        )
    return ctx


def _iso(t: dt.datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") if t is not None else None


def _view(row: ApplicationCredential, secret: str | None = None) -> dict[str, Any]:
    """Keystone's shape; the secret only in the answer to its creation."""
    with deps.db().session() as s:
        roles = s.scalars(select(Role).where(Role.id.in_(list(row.role_ids)))).all()
    body: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "user_id": row.user_id,
        "project_id": row.project_id,
        "roles": [{"id": r.id, "name": r.name, "domain_id": None} for r in roles],
        "unrestricted": row.unrestricted,
        "access_rules": [],
        "expires_at": _iso(row.expires_at),
        "links": {"self": url("users", row.user_id, "application_credentials", row.id)},
    }
    if secret is not None:
        body["secret"] = secret
    return body


def _expiry(spec: dict[str, Any]) -> dt.datetime | None:
    """``expires_at``: an ISO 8601 time in the future (naive means UTC), or none."""
    value = spec.get("expires_at")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidSpec("'expires_at' must be an ISO 8601 date and time.")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(f"'expires_at' is not an ISO 8601 date and time: {value!r}.") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    if when <= utcnow():
        raise InvalidSpec("'expires_at' must be in the future.")
    return when


def _delegated(spec: dict[str, Any], ctx: RequestContext) -> list[str]:
    """The ids of the roles to delegate: those named (by id or name), each one the caller
    holds on its project; all the roles its token carries when none are named (no list or
    an empty one, as Keystone: the openstack CLI sends ``[]`` without ``--role``)."""
    held = policy.effective_roles(ctx.roles)
    wanted = spec.get("roles")
    with deps.db().session() as s:
        if wanted is None or wanted == []:
            return list(s.scalars(select(Role.id).where(Role.name.in_(sorted(held)))))
        if not isinstance(wanted, list) or not all(isinstance(r, dict) for r in wanted):
            raise InvalidSpec("'roles' must be a list of objects naming a role by id or name.")
        ids: list[str] = []
        for ref in wanted:
            key = "id" if "id" in ref else "name"
            value = ref.get(key)
            if not isinstance(value, str) or not value or len(value) > 255:
                raise InvalidSpec("Each role must name a role by 'id' or 'name'.")
            role = s.scalars(select(Role).where(getattr(Role, key) == value)).first()
            if role is None or role.name not in held:
                # Keystone answers 400 here, not 404: the request, not a resource, is wrong.
                raise InvalidSpec(
                    f"User {ctx.user_id} has no role {value} on project {ctx.project_id} "
                    "to delegate."
                )
            if role.id not in ids:
                ids.append(role.id)
    if not ids:
        raise InvalidSpec("'roles' must name at least one role.")
    return ids


def _secret(spec: dict[str, Any]) -> str:
    value = spec.get("secret")
    if value is None:
        return cli_safe_secret(64)
    if not isinstance(value, str) or not value.strip() or len(value) > SECRET_MAX:
        raise InvalidSpec(f"'secret' must be a non-blank string of at most {SECRET_MAX}.")
    return value


@bp.post(PATH)
def create_application_credential(user_id: str) -> tuple[Response, int]:
    ctx = _owner(user_id, write=True)
    spec = resource_body("application_credential")
    name = name_value(spec, "application credential name", 255)
    description = optional_text(spec, "description", DESCRIPTION_MAX)
    unrestricted = bool(optional_bool(spec, "unrestricted"))
    expires_at = _expiry(spec)
    secret = _secret(spec)
    if spec.get("access_rules") not in (None, []):
        raise InvalidSpec("Access rules are not supported: leave 'access_rules' out.")
    if ctx.user_id != user_id:
        raise Forbidden("Cannot create an application credential for another user.")
    if not ctx.project_id:
        raise InvalidSpec("An application credential is made with a project-scoped token.")
    role_ids = _delegated(spec, ctx)
    row = ApplicationCredential(
        id=uuid.uuid4().hex,
        name=name,
        description=description,
        secret_hash=hash_password(secret),
        user_id=user_id,
        project_id=ctx.project_id,
        role_ids=role_ids,
        unrestricted=unrestricted,
        expires_at=expires_at,
    )
    with unique(f"An application credential named {name!r} already exists for this user.") as s:
        taken = select(ApplicationCredential.id).where(
            ApplicationCredential.user_id == user_id, ApplicationCredential.name == name
        )
        if s.scalars(taken).first() is not None:
            raise Conflict(f"An application credential named {name!r} already exists.")
        s.add(row)
    return jsonify({"application_credential": _view(row, secret)}), 201


@bp.get(PATH)
def list_application_credentials(user_id: str) -> Response:
    _owner(user_id)
    query = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
    if "name" in request.args:
        query = query.where(ApplicationCredential.name == request.args["name"])
    with deps.db().session() as s:
        rows = list(s.scalars(query.order_by(ApplicationCredential.name)))
    return jsonify(
        {
            "application_credentials": [_view(r) for r in rows],
            "links": collection_links("users", user_id, "application_credentials"),
        }
    )


def _find(user_id: str, cred_id: str) -> ApplicationCredential:
    with deps.db().session() as s:
        row = s.get(ApplicationCredential, cred_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"Could not find application credential: {cred_id}.")
    return row


@bp.get(f"{PATH}/<application_credential_id>")
def show_application_credential(user_id: str, application_credential_id: str) -> Response:
    _owner(user_id)
    row = _find(user_id, application_credential_id)
    return jsonify({"application_credential": _view(row)})


@bp.delete(f"{PATH}/<application_credential_id>")
def delete_application_credential(user_id: str, application_credential_id: str) -> tuple[str, int]:
    _owner(user_id, write=True)
    row = _find(user_id, application_credential_id)
    with deps.db().session() as s:
        s.execute(delete(Token).where(Token.app_cred_id == row.id))
        s.execute(delete(ApplicationCredential).where(ApplicationCredential.id == row.id))
    return "", 204


def forget_for(s: Any, user_id: str | None = None, project_id: str | None = None) -> None:
    """Remove the credentials (and their tokens) of a user or a project being deleted, or
    of a user on a project it no longer holds a role on."""
    query = select(ApplicationCredential.id)
    if user_id is not None:
        query = query.where(ApplicationCredential.user_id == user_id)
    if project_id is not None:
        query = query.where(ApplicationCredential.project_id == project_id)
    ids = list(s.scalars(query))
    if ids:
        s.execute(delete(Token).where(Token.app_cred_id.in_(ids)))
        s.execute(delete(ApplicationCredential).where(ApplicationCredential.id.in_(ids)))
