"""Tokens: random strings handed to their holder and kept only as a hash, so that a copy
of the database holds no usable token."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy.orm import Session

from nimbus.db import Token, utcnow


def cli_safe_secret(nbytes: int) -> str:
    """``secrets.token_urlsafe(nbytes)`` that does not begin with a dash, which one in 64
    does: a command line reads such a token, secret or password given as an argument
    (``openstack token revoke <token>``, ``--os-application-credential-secret <secret>``)
    as an option of its own and refuses it."""
    while True:
        text = secrets.token_urlsafe(nbytes)
        if not text.startswith("-"):
            return text


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    s: Session,
    user_id: str,
    project_id: str | None,
    lifetime: dt.timedelta,
    methods: tuple[str, ...] = ("password",),
    parent: Token | None = None,
    app_cred_id: str | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[str, Token]:
    """A new token scoped to the project (``None``: unscoped), added to the session;
    returns it and its row. A token re-scoped from ``parent`` keeps the parent's expiry
    and carries its audit id second, as Keystone's audit chain does. A token had with an
    application credential names it, and never outlives it (``not_after``)."""
    token, now = cli_safe_secret(32), utcnow()
    audit = [secrets.token_urlsafe(16)]
    if parent is not None and parent.audit_ids:
        audit.append(parent.audit_ids[0])
    expires = parent.expires_at if parent is not None else now + lifetime
    if not_after is not None:
        expires = min(expires, not_after)
    row = Token(
        token_hash=token_hash(token),
        user_id=user_id,
        project_id=project_id,
        issued_at=now,
        expires_at=expires,
        methods=list(methods),
        audit_ids=audit,
        app_cred_id=app_cred_id,
    )
    s.add(row)
    return token, row
