"""Keystone v3 shape: versions, password tokens, validation, expiry, revocation."""

from __future__ import annotations

import datetime as dt

from nimbus.db import Token
from tests.support.dump import dump
from tests.support.stack import Stack


def _auth(user: str, password: str, project: str = "demo") -> dict[str, object]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }


def test_version_documents(stack: Stack) -> None:
    assert stack.client.get("/identity").status_code == 300
    version = stack.client.get("/identity/v3").json["version"]
    assert version["id"].startswith("v3") and version["status"] == "stable"


def test_token_carries_project_roles_and_catalog(stack: Stack) -> None:
    response = stack.client.post("/identity/v3/auth/tokens", json=_auth("alice", "alice-secret"))
    assert response.status_code == 201 and response.headers["X-Subject-Token"]
    token = response.json["token"]
    assert token["project"]["name"] == "demo" and token["user"]["name"] == "alice"
    assert [r["name"] for r in token["roles"]] == ["member"]
    types = {s["type"]: s["endpoints"][0]["url"] for s in token["catalog"]}
    assert types["compute"].endswith("/compute/v2.1") and types["image"].endswith("/image")


def test_wrong_password_is_401(stack: Stack) -> None:
    response = stack.client.post("/identity/v3/auth/tokens", json=_auth("alice", "nope"))
    assert response.status_code == 401
    assert response.json["error"]["code"] == 401


def test_unknown_user_and_unassigned_project_are_401(stack: Stack) -> None:
    assert (
        stack.client.post("/identity/v3/auth/tokens", json=_auth("mallory", "x")).status_code == 401
    )
    assert (
        stack.client.post(
            "/identity/v3/auth/tokens", json=_auth("alice", "alice-secret", "other")
        ).status_code
        == 401
    )


def test_malformed_auth_body_is_400(stack: Stack) -> None:
    response = stack.client.post(
        "/identity/v3/auth/tokens", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert stack.client.post("/identity/v3/auth/tokens", json={"auth": {}}).status_code == 400


def test_token_validation_and_revocation(stack: Stack) -> None:
    token = stack.token("alice")
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert stack.client.get("/identity/v3/auth/tokens", headers=headers).status_code == 200
    assert stack.client.delete("/identity/v3/auth/tokens", headers=headers).status_code == 204
    assert (
        stack.client.get("/compute/v2.1/servers", headers={"X-Auth-Token": token}).status_code
        == 401
    )


def test_expired_token_is_refused(stack: Stack) -> None:
    token = stack.token("alice")
    with stack.db.session() as s:
        for row in s.query(Token).all():
            row.expires_at = dt.datetime(2000, 1, 1)
    response = stack.client.get("/compute/v2.1/servers", headers={"X-Auth-Token": token})
    assert response.status_code == 401


def test_passwords_and_tokens_are_not_stored_in_clear(stack: Stack) -> None:
    token = stack.token("alice")
    stored = dump(stack.db)
    assert "alice-secret" not in stored and token not in stored
