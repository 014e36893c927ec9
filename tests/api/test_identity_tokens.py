"""Tokens die with what they stand for: revocation, a password change, a disabled or
deleted user, a disabled project, a removed role. And passwords never rest in clear."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher import bootstrap
from nimbus.client import password_auth
from nimbus.config import Settings
from nimbus.db import Database, Token
from nimbus.tokens import token_hash
from tests.support.dump import dump
from tests.support.identity import IdentityApp, identity_app


@pytest.fixture
def idp(tmp_path: Path, database_url: str) -> Iterator[IdentityApp]:
    yield from identity_app(tmp_path, database_url=database_url)


def _works(idp: IdentityApp, token: str) -> bool:
    """Whether the token still authenticates a call (alice may list her projects)."""
    response = idp.client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": token})
    assert response.status_code in (200, 401)
    return response.status_code == 200


def _id(idp: IdentityApp, kind: str, name: str) -> str:
    return str(idp.call("GET", f"/{kind}s?name={name}").json[f"{kind}s"][0]["id"])


def _change_password(idp: IdentityApp, token: str, old: str, new: str) -> int:
    body = {"user": {"password": new, "original_password": old}}
    user_id = _id(idp, "user", "alice")
    response = idp.client.post(
        f"/identity/v3/users/{user_id}/password", json=body, headers={"X-Auth-Token": token}
    )
    return int(response.status_code)


def test_revoked_token_is_refused(idp: IdentityApp) -> None:
    token = idp.token("alice")
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert idp.client.delete("/identity/v3/auth/tokens", headers=headers).status_code == 204
    assert not _works(idp, token)


def test_password_change_revokes_tokens_and_swaps_the_password(idp: IdentityApp) -> None:
    token, other = idp.token("alice"), idp.token("alice")
    assert _change_password(idp, token, "alice-secret", "alice-new") == 204
    assert not _works(idp, token) and not _works(idp, other)
    assert _works(idp, idp.token("alice", "alice-new"))
    old = idp.client.post(
        "/identity/v3/auth/tokens", json=password_auth("alice", "alice-secret", "demo")
    )
    assert old.status_code == 401


def test_wrong_original_password_is_401_and_changes_nothing(idp: IdentityApp) -> None:
    token = idp.token("alice")
    assert _change_password(idp, token, "not-it", "alice-new") == 401
    assert _works(idp, token) and _works(idp, idp.token("alice"))


def test_a_user_cannot_change_another_users_password(idp: IdentityApp) -> None:
    bob = _id(idp, "user", "bob")
    body = {"user": {"password": "x", "original_password": "bob-secret"}}
    response = idp.client.post(
        f"/identity/v3/users/{bob}/password", json=body, headers=idp.headers("alice")
    )
    assert response.status_code == 403


def test_disabled_user_tokens_are_refused_even_once_enabled_again(idp: IdentityApp) -> None:
    token, alice = idp.token("alice"), _id(idp, "user", "alice")
    idp.call("PATCH", f"/users/{alice}", json={"user": {"enabled": False}})
    assert not _works(idp, token)
    refused = idp.client.post(
        "/identity/v3/auth/tokens", json=password_auth("alice", "alice-secret", "demo")
    )
    assert refused.status_code == 401
    idp.call("PATCH", f"/users/{alice}", json={"user": {"enabled": True}})
    assert not _works(idp, token) and _works(idp, idp.token("alice"))


def test_disabled_project_tokens_are_refused(idp: IdentityApp) -> None:
    token, demo = idp.token("alice"), _id(idp, "project", "demo")
    idp.call("PATCH", f"/projects/{demo}", json={"project": {"enabled": False}})
    assert not _works(idp, token)
    subject = {**idp.headers(), "X-Subject-Token": token}
    assert idp.client.get("/identity/v3/auth/tokens", headers=subject).status_code == 404


def test_deleted_user_tokens_are_refused(idp: IdentityApp) -> None:
    token = idp.token("alice")
    assert idp.call("DELETE", f"/users/{_id(idp, 'user', 'alice')}").status_code == 204
    assert not _works(idp, token)


def test_token_of_a_user_whose_last_role_went_is_refused(idp: IdentityApp) -> None:
    token = idp.token("alice")
    alice, demo, member = (
        _id(idp, "user", "alice"),
        _id(idp, "project", "demo"),
        _id(idp, "role", "member"),
    )
    assert idp.call("DELETE", f"/projects/{demo}/users/{alice}/roles/{member}").status_code == 204
    assert not _works(idp, token)


def _stored(idp: IdentityApp) -> bytes:
    """All the database holds: its files on SQLite, every row of every table elsewhere."""
    if idp.db.engine.dialect.name == "sqlite":
        files = sorted(idp.settings.data_dir.glob("nimbus.db*"))  # the database, WAL, SHM
        assert idp.settings.data_dir / "nimbus.db" in files
        return b"".join(path.read_bytes() for path in files)
    return dump(idp.db).encode()


def test_passwords_never_rest_in_clear(idp: IdentityApp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    first, second = "Quokka-Zebra-7319-first", "Narwhal-Okapi-4482-second"
    demo = _id(idp, "project", "demo")
    created = idp.call(
        "POST",
        "/users",
        json={"user": {"name": "dora", "password": first, "default_project_id": demo}},
    )
    user = created.json["user"]["id"]
    idp.call("PUT", f"/projects/{demo}/users/{user}/roles/{_id(idp, 'role', 'member')}")
    token = idp.token("dora", first, "demo")
    idp.client.post(
        "/identity/v3/auth/tokens", json=password_auth("dora", "wrong-" + first, "demo")
    )
    body = {"user": {"password": second, "original_password": first}}
    changed = idp.client.post(
        f"/identity/v3/users/{user}/password", json=body, headers={"X-Auth-Token": token}
    )
    assert changed.status_code == 204
    idp.token("dora", second, "demo")
    stored = _stored(idp)
    for secret in (first, second):
        assert secret.encode() not in stored
        assert secret not in caplog.text


def test_domain_names_in_credentials_ignore_case(idp: IdentityApp) -> None:
    body = password_auth("alice", "alice-secret", "demo")
    body["auth"]["identity"]["password"]["user"]["domain"] = {"name": "default"}
    assert idp.client.post("/identity/v3/auth/tokens", json=body).status_code == 201


def test_the_gateways_service_token_is_replaced_and_the_old_one_refused(
    tmp_path: Path, database_url: str
) -> None:
    """Each start of the gateway gets a new service token; the one before stops working."""
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    db = Database(settings.db_url)
    db.create_schema()
    bootstrap.ensure_rgw_user(db, settings)
    first = bootstrap.issue_rgw_token(db, settings).read_text()
    path = bootstrap.issue_rgw_token(db, settings)
    second = path.read_text()
    assert first != second and oct(path.stat().st_mode & 0o777) == "0o600"
    with db.session() as s:
        old, new = s.get(Token, token_hash(first)), s.get(Token, token_hash(second))
        assert old is not None and old.revoked
        assert new is not None and not new.revoked
