"""Keystone's EC2 credentials (``/v3/users/{user_id}/credentials/OS-EC2``): S3 key pairs.

A credential is issued for one user and one project the user may write to (member or
admin there: the key pair gets the project's full S3 access). A user manages only its own
credentials; an admin anyone's. Issuing and deleting run workflows that put the key pair
on, or take it off, the project's RADOS Gateway user, so a created key works and a deleted
one is refused by the time the API answers.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from api import deps, policy
from api.context import RequestContext, current, roles_of
from api.errors import Forbidden
from api.identity import bp
from api.starting import forget
from api.validation import json_body, require_str
from nimbus.db import Project, Role, User
from nimbus.db_credentials import Ec2Credential
from nimbus.errors import NotFound
from workflows import credential_starter
from workflows.net_starter import StillRunning

PATH = "/v3/users/<user_id>/credentials/OS-EC2"


def _owner(user_id: str) -> RequestContext:
    """The caller, if it may manage ``user_id``'s credentials (itself, or an admin)."""
    ctx = current()
    if ctx.user_id != user_id and not policy.allowed(ctx, "identity:ec2_credentials:all_users"):
        raise Forbidden("You are not authorized to manage another user's credentials.")
    with deps.db().session() as s:
        if s.get(User, user_id) is None:
            raise NotFound(f"Could not find user: {user_id}.")
    return ctx


def _view(row: Ec2Credential) -> dict[str, Any]:
    """Keystone's shape: the secret is shown to the credential's owner (and admins)."""
    href = f"{deps.settings().public_url}/identity/v3/users/{row.user_id}/credentials/OS-EC2"
    return {
        "user_id": row.user_id,
        "tenant_id": row.project_id,
        "access": row.access,
        "secret": row.secret,
        "trust_id": None,
        "links": {"self": f"{href}/{row.access}"},
    }


def _may_hold(roles: list[str]) -> bool:
    """Whether these roles on a project let their holder keep S3 keys for it (they write)."""
    return policy.RULES["identity:ec2_credentials:create"] in policy.effective_roles(roles)


def _check_project(user_id: str, project_id: str) -> None:
    """``Forbidden`` unless the user holds a role that may write in the project."""
    with deps.db().session() as s:
        exists = s.get(Project, project_id) is not None
    if not exists or not _may_hold(roles_of(deps.db(), user_id, project_id)):
        raise Forbidden(f"User {user_id} may not hold credentials for project {project_id}.")


def _find(user_id: str, access: str) -> Ec2Credential:
    with deps.db().session() as s:
        row = s.get(Ec2Credential, access)
    if row is None or row.user_id != user_id:
        raise NotFound(f"Could not find credential: {access}.")
    return row


@bp.post(PATH)
def create_ec2_credential(user_id: str) -> tuple[Response, int]:
    _owner(user_id)
    project_id = require_str(json_body(), "tenant_id", "tenant_id", max_len=64)
    _check_project(user_id, project_id)
    row = Ec2Credential(
        access=uuid.uuid4().hex, secret=uuid.uuid4().hex, user_id=user_id, project_id=project_id
    )
    with deps.db().session() as s:
        s.add(row)
    try:
        deps.bridge().run(
            lambda c: credential_starter.create_ec2_credential(c, project_id, row.access)
        )
    except StillRunning:
        raise  # the workflow owns the outcome: keep the row it reads
    except Exception:
        forget(Ec2Credential, row.access)
        raise
    return jsonify({"credential": _view(row)}), 201


@bp.get(PATH)
def list_ec2_credentials(user_id: str) -> Response:
    _owner(user_id)
    with deps.db().session() as s:
        query = select(Ec2Credential).where(Ec2Credential.user_id == user_id)
        rows = s.scalars(query.order_by(Ec2Credential.created_at, Ec2Credential.access)).all()
    self_href = f"{deps.settings().public_url}/identity/v3/users/{user_id}/credentials/OS-EC2"
    links = {"self": self_href, "previous": None, "next": None}
    return jsonify({"credentials": [_view(r) for r in rows], "links": links})


@bp.get(f"{PATH}/<access>")
def show_ec2_credential(user_id: str, access: str) -> Response:
    _owner(user_id)
    return jsonify({"credential": _view(_find(user_id, access))})


@bp.delete(f"{PATH}/<access>")
def delete_ec2_credential(user_id: str, access: str) -> tuple[str, int]:
    _owner(user_id)
    row = _find(user_id, access)
    _take_off(row)
    return "", 204


def _take_off(row: Ec2Credential) -> None:
    """Remove the key pair from the gateway, then its row."""
    deps.bridge().run(
        lambda c: credential_starter.delete_ec2_credential(c, row.project_id, row.access)
    )
    forget(Ec2Credential, row.access)


def withdraw(user_id: str | None = None, project_id: str | None = None) -> int:
    """Take off the credentials of a user, of a project, or of a user on a project, before
    identity stops letting their holder write there (role revoked, user or project disabled
    or deleted): the gateway checks S3 keys itself and would go on accepting them.

    Runs before the identity change, so a failure (503) leaves the change undone and at
    worst some keys removed. Returns how many were taken off."""
    query = select(Ec2Credential)
    if user_id is not None:
        query = query.where(Ec2Credential.user_id == user_id)
    if project_id is not None:
        query = query.where(Ec2Credential.project_id == project_id)
    with deps.db().session() as s:
        rows = list(s.scalars(query))
    for row in rows:
        _take_off(row)
    return len(rows)


def may_write_after(user_id: str, project_id: str, losing_role: str) -> bool:
    """Whether the user still holds a role that lets it keep credentials on the project
    once ``losing_role`` (a role id) is revoked."""
    with deps.db().session() as s:
        role = s.get(Role, losing_role)
    losing = role.name if role is not None else None
    return _may_hold([r for r in roles_of(deps.db(), user_id, project_id) if r != losing])
