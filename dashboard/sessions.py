"""Signed-in users: the Keystone tokens the dashboard holds for them, kept on the server.

The browser gets only a random session id (an HttpOnly, SameSite=Strict cookie): the
tokens never reach it, nor any URL. Each session has its own CSRF token, which every
form and every htmx request must send back. Sessions end at logout (their tokens are
revoked), when the token expires, or after ``IDLE_SECONDS`` without a request.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "nimbus_dashboard"
IDLE_SECONDS = 8 * 3600


@dataclass
class Session:
    """One signed-in user, scoped to one project at a time."""

    unscoped_token: str
    token: str
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: list[str]
    #: Seconds since the epoch at which the scoped token expires.
    expires_at: float
    projects: list[dict[str, str]] = field(default_factory=list)
    #: The project's object store (Swift, ``.../AUTH_<project>``) from the token's catalog.
    object_store: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    seen_at: float = field(default_factory=time.time)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        """Whether the project's resources may be changed: a reader may only look."""
        return bool({"admin", "member"} & set(self.roles))


class SessionStore:
    """Sessions by id, in this process (one dashboard process; a restart signs users out)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def add(self, session: Session) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = session
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session ``sid`` names; ``None`` if unknown, expired or idle too long."""
        if not sid:
            return None
        now = time.time()
        with self._lock:
            found = self._sessions.get(sid)
            if found is None:
                return None
            if found.expires_at <= now or now - found.seen_at > IDLE_SECONDS:
                del self._sessions[sid]
                return None
            found.seen_at = now
            return found

    def remove(self, sid: str | None) -> Session | None:
        with self._lock:
            return self._sessions.pop(sid or "", None)
