"""Tokens: random strings handed to their holder and kept only as a hash, so that a copy
of the database holds no usable token."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy.orm import Session

from nimbus.db import Token, utcnow


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(s: Session, user_id: str, project_id: str, lifetime: dt.timedelta) -> tuple[str, Token]:
    """A new token scoped to the project, added to the session; returns it and its row."""
    token, now = secrets.token_urlsafe(32), utcnow()
    row = Token(
        token_hash=token_hash(token),
        user_id=user_id,
        project_id=project_id,
        issued_at=now,
        expires_at=now + lifetime,
    )
    s.add(row)
    return token, row
