"""Application credentials: made by a user from its project token, used by an application
to authenticate (by id, or by name and user), bounded to the roles delegated, and ended
by deletion, expiry or the loss of the user's roles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from nimbus.db import utcnow
from nimbus.db_credentials import ApplicationCredential
from tests.support.identity import IdentityApp, identity_app

TOKENS = "/identity/v3/auth/tokens"


@pytest.fixture
def idp(tmp_path: Path, database_url: str) -> Iterator[IdentityApp]:
    yield from identity_app(tmp_path, database_url=database_url)


def _user_id(idp: IdentityApp, user: str) -> str:
    return str(idp.call("GET", f"/users?name={user}").json["users"][0]["id"])


def _create(idp: IdentityApp, user: str = "alice", status: int = 201, **spec: Any) -> Any:
    path = f"/users/{_user_id(idp, user)}/application_credentials"
    r = idp.call("POST", path, user=user, json={"application_credential": {"name": "ci", **spec}})
    assert r.status_code == status, r.json
    return r.json


def _auth(cred: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {"methods": ["application_credential"], "application_credential": cred},
            **extra,
        }
    }


def _issue(idp: IdentityApp, body: dict[str, Any], status: int = 201) -> tuple[str, Any]:
    r = idp.client.post(TOKENS, json=body)
    assert r.status_code == status, r.json
    return str(r.headers.get("X-Subject-Token", "")), r.json


def test_create_list_show_and_authenticate(idp: IdentityApp) -> None:
    made = _create(idp, description="for CI")["application_credential"]
    alice = _user_id(idp, "alice")
    assert made["name"] == "ci" and made["description"] == "for CI"
    assert made["user_id"] == alice and made["unrestricted"] is False
    assert made["expires_at"] is None and made["access_rules"] == []
    assert {r["name"] for r in made["roles"]} >= {"member"}
    assert len(made["secret"]) >= 32
    demo = idp.call("GET", "/projects?name=demo").json["projects"][0]["id"]
    assert made["project_id"] == demo

    base = f"/users/{alice}/application_credentials"
    listed = idp.call("GET", base, user="alice").json["application_credentials"]
    assert [c["id"] for c in listed] == [made["id"]] and "secret" not in listed[0]
    shown = idp.call("GET", f"{base}/{made['id']}", user="alice").json["application_credential"]
    assert shown == {k: v for k, v in made.items() if k != "secret"}
    assert idp.call("GET", f"{base}?name=other", user="alice").json["application_credentials"] == []

    token, body = _issue(idp, _auth({"id": made["id"], "secret": made["secret"]}))
    doc = body["token"]
    assert doc["methods"] == ["application_credential"]
    assert doc["application_credential"] == {"id": made["id"], "name": "ci", "restricted": True}
    assert doc["project"]["id"] == demo and doc["user"]["id"] == alice
    assert doc["catalog"]
    validated = idp.client.get(TOKENS, headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert validated.json["token"] == doc

    by_name = {
        "name": "ci",
        "secret": made["secret"],
        "user": {"name": "alice", "domain": {"id": "default"}},
    }
    _, again = _issue(idp, _auth(by_name))
    assert again["token"]["application_credential"]["id"] == made["id"]


def test_wrong_secret_unknown_credential_and_a_scope_are_401(idp: IdentityApp) -> None:
    made = _create(idp)["application_credential"]
    _issue(idp, _auth({"id": made["id"], "secret": "wrong"}), 401)
    _issue(idp, _auth({"id": "no-such-credential", "secret": made["secret"]}), 401)
    scoped = _auth(
        {"id": made["id"], "secret": made["secret"]},
        scope={"project": {"name": "demo", "domain": {"id": "default"}}},
    )
    _issue(idp, scoped, 401)
    _issue(idp, _auth({"id": made["id"]}), 400)  # no secret: a malformed request


def test_delegated_roles_bound_the_token(idp: IdentityApp) -> None:
    made = _create(idp, roles=[{"name": "reader"}], secret="my own secret")
    cred = made["application_credential"]
    assert cred["secret"] == "my own secret"
    assert [r["name"] for r in cred["roles"]] == ["reader"]
    token, body = _issue(idp, _auth({"id": cred["id"], "secret": "my own secret"}))
    assert [r["name"] for r in body["token"]["roles"]] == ["reader"]
    h = {"X-Auth-Token": token}
    # Reading is allowed; writing, which member could, is not (reader only).
    assert idp.client.get("/identity/v3/auth/projects", headers=h).status_code == 200
    servers = idp.client.post("/compute/v2.1/servers", json={"server": {}}, headers=h)
    assert servers.status_code == 403, servers.json


def test_what_cannot_be_made(idp: IdentityApp) -> None:
    _create(idp, status=400, roles=[{"name": "admin"}])  # not held by alice: nothing to delegate
    _create(idp, status=400, roles=[{"name": "no-such-role"}])
    _create(idp, status=400, expires_at="2001-01-01T00:00:00")
    _create(idp, status=400, expires_at="next tuesday")
    _create(idp, status=400, access_rules=[{"method": "GET", "path": "/", "service": "x"}])
    _create(idp)
    _create(idp, status=409)  # the name is taken for this user
    alice = _user_id(idp, "alice")
    for_alice = {"application_credential": {"name": "x"}}
    path = f"/users/{alice}/application_credentials"
    assert idp.call("POST", path, json=for_alice).status_code == 403  # admin, for another user
    assert idp.call("POST", path, user="bob", json=for_alice).status_code == 403
    assert idp.call("GET", path, user="bob").status_code == 403
    assert idp.call("GET", path, user="rita").status_code == 403
    assert len(idp.call("GET", path).json["application_credentials"]) == 1  # an admin reads


def test_a_restricted_credential_cannot_make_more_and_its_tokens_cannot_rescope(
    idp: IdentityApp,
) -> None:
    made = _create(idp)["application_credential"]
    token, _ = _issue(idp, _auth({"id": made["id"], "secret": made["secret"]}))
    path = f"/identity/v3/users/{made['user_id']}/application_credentials"
    h = {"X-Auth-Token": token}
    more = idp.client.post(path, json={"application_credential": {"name": "b"}}, headers=h)
    assert more.status_code == 403
    gone = idp.client.delete(f"{path}/{made['id']}", headers=h)
    assert gone.status_code == 403
    rescope = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": token}},
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}},
        }
    }
    _issue(idp, rescope, 401)

    free = _create(idp, name="free", unrestricted=True)["application_credential"]
    token, _ = _issue(idp, _auth({"id": free["id"], "secret": free["secret"]}))
    h = {"X-Auth-Token": token}
    more = idp.client.post(path, json={"application_credential": {"name": "b"}}, headers=h)
    assert more.status_code == 201, more.json


def test_deletion_and_expiry_end_the_tokens(idp: IdentityApp) -> None:
    made = _create(idp)["application_credential"]
    secret = {"id": made["id"], "secret": made["secret"]}
    token, _ = _issue(idp, _auth(secret))
    h = {"X-Auth-Token": token}
    assert idp.client.get("/identity/v3/auth/projects", headers=h).status_code == 200
    with idp.db.session() as s:
        past = utcnow() - dt.timedelta(seconds=1)
        s.execute(update(ApplicationCredential).values(expires_at=past))
    assert idp.client.get("/identity/v3/auth/projects", headers=h).status_code == 401
    _issue(idp, _auth(secret), 401)

    other = _create(idp, name="other")["application_credential"]
    token, _ = _issue(idp, _auth({"id": other["id"], "secret": other["secret"]}))
    path = f"/users/{other['user_id']}/application_credentials/{other['id']}"
    assert idp.call("DELETE", path, user="alice").status_code == 204
    assert idp.call("DELETE", path, user="alice").status_code == 404
    h = {"X-Auth-Token": token}
    assert idp.client.get("/identity/v3/auth/projects", headers=h).status_code == 401


def test_a_token_expires_with_its_credential(idp: IdentityApp) -> None:
    soon = (utcnow() + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    made = _create(idp, expires_at=soon)["application_credential"]
    assert made["expires_at"].startswith(soon)
    _, body = _issue(idp, _auth({"id": made["id"], "secret": made["secret"]}))
    assert body["token"]["expires_at"].startswith(soon)


def test_losing_every_role_on_the_project_deletes_the_credential(idp: IdentityApp) -> None:
    made = _create(idp)["application_credential"]
    alice, demo = made["user_id"], made["project_id"]
    for role in idp.call("GET", f"/projects/{demo}/users/{alice}/roles").json["roles"]:
        r = idp.call("DELETE", f"/projects/{demo}/users/{alice}/roles/{role['id']}")
        assert r.status_code == 204
    _issue(idp, _auth({"id": made["id"], "secret": made["secret"]}), 401)
    with idp.db.session() as s:
        assert s.get(ApplicationCredential, made["id"]) is None


def test_an_empty_role_list_delegates_every_role_of_the_token(idp: IdentityApp) -> None:
    """As Keystone does; the openstack CLI sends ``"roles": []`` when given no ``--role``."""
    made = _create(idp, roles=[])["application_credential"]
    assert {r["name"] for r in made["roles"]} >= {"member"}
