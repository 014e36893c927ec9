"""The API over a seeded database, without a workflow engine: enough for identity, whose
writes touch no infrastructure. Much faster than a whole ``Stack``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from activities.storage.fake_block import FakeBlockStore
from api import create_app
from api.bridge import TemporalBridge
from nimbus.client import password_auth
from nimbus.config import Settings
from nimbus.db import Database
from tests.support.stack import seed

#: The seeded users' projects (passwords are ``<name>-secret``).
PROJECTS = {"admin": "admin", "alice": "demo", "rita": "demo", "bob": "other"}


@dataclass
class IdentityApp:
    settings: Settings
    db: Database
    app: Flask
    client: FlaskClient
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str, password: str | None = None, project: str | None = None) -> str:
        """A token for a user (a seeded one's password and project unless told otherwise)."""
        body = password_auth(user, password or f"{user}-secret", project or PROJECTS[user])
        response = self.client.post("/identity/v3/auth/tokens", json=body)
        assert response.status_code == 201, response.json
        return str(response.headers["X-Subject-Token"])

    def headers(self, user: str = "admin") -> dict[str, str]:
        """A seeded user's token header (one token per user, reused)."""
        if user not in self._tokens:
            self._tokens[user] = self.token(user)
        return {"X-Auth-Token": self._tokens[user]}

    def call(self, method: str, path: str, user: str = "admin", **kw: Any) -> Any:
        """``method`` on ``/identity/v3<path>`` as a seeded user."""
        headers = {**self.headers(user), **kw.pop("headers", {})}
        return self.client.open("/identity/v3" + path, method=method, headers=headers, **kw)


def identity_app(data_dir: Path, **settings: Any) -> Iterator[IdentityApp]:
    """A seeded API whose Temporal bridge is never used (nothing listens at its address)."""
    config = Settings(data_dir=data_dir, temporal_port=1, **{"tls": False, **settings})
    db = Database(config.db_url)
    seed(db)
    bridge = TemporalBridge(config.temporal_address, config.temporal_namespace)
    app = create_app(config, db, bridge, block_store=FakeBlockStore())
    app.testing = True
    yield IdentityApp(config, db, app, app.test_client())
    bridge.close()
    db.engine.dispose()
