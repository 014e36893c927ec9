"""The dashboards' login: an unscoped token, the user's projects, then project tokens
re-scoped from it with the ``token`` method (and a switch of project the same way)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.identity import IdentityApp, identity_app

TOKENS = "/identity/v3/auth/tokens"
DOMAIN = {"id": "default"}


@pytest.fixture
def idp(tmp_path: Path, database_url: str) -> Iterator[IdentityApp]:
    yield from identity_app(tmp_path, database_url=database_url)


def _password(scope: Any = None, user: str = "alice") -> dict[str, Any]:
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": user, "domain": DOMAIN, "password": f"{user}-secret"}},
        }
    }
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def _rescope(token: str, project: str) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": token}},
            "scope": {"project": {"name": project, "domain": DOMAIN}},
        }
    }


def _issue(idp: IdentityApp, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    r = idp.client.post(TOKENS, json=body)
    assert r.status_code == 201, r.json
    return str(r.headers["X-Subject-Token"]), dict(r.json["token"])


def _validate(idp: IdentityApp, token: str) -> Any:
    return idp.client.get(TOKENS, headers={"X-Auth-Token": token, "X-Subject-Token": token})


def test_an_unscoped_login_as_horizon_sends_it(idp: IdentityApp) -> None:
    token, body = _issue(idp, _password("unscoped"))
    assert body["methods"] == ["password"] and body["user"]["name"] == "alice"
    assert not {"project", "roles", "catalog"} & set(body)
    assert _validate(idp, token).json["token"] == body  # the same document, audit ids too
    mine = idp.client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": token})
    assert [p["name"] for p in mine.json["projects"]] == ["demo"]
    # An unscoped token reaches nothing of a project's.
    assert (
        idp.client.get("/identity/v3/auth/catalog", headers={"X-Auth-Token": token}).status_code
        == 403
    )
    assert (
        idp.client.get("/compute/v2.1/servers", headers={"X-Auth-Token": token}).status_code == 403
    )


def test_rescoping_with_the_token_method_keeps_expiry_and_chains_audit_ids(
    idp: IdentityApp,
) -> None:
    unscoped, first = _issue(idp, _password("unscoped"))
    project_token, scoped = _issue(idp, _rescope(unscoped, "demo"))
    assert scoped["methods"] == ["token"] and scoped["project"]["name"] == "demo"
    assert {r["name"] for r in scoped["roles"]} >= {"member"} and scoped["catalog"]
    assert scoped["expires_at"] == first["expires_at"]
    assert scoped["audit_ids"][1] == first["audit_ids"][0]
    assert _validate(idp, project_token).json["token"] == scoped
    servers = idp.client.get("/compute/v2.1/servers", headers={"X-Auth-Token": project_token})
    assert servers.status_code == 200


def test_switching_project_rescopes_again_and_a_project_without_a_role_is_401(
    idp: IdentityApp,
) -> None:
    other = idp.call("GET", "/projects?name=other").json["projects"][0]["id"]
    alice = idp.call("GET", "/users?name=alice").json["users"][0]["id"]
    member = idp.call("GET", "/roles?name=member").json["roles"][0]["id"]
    assert idp.call("PUT", f"/projects/{other}/users/{alice}/roles/{member}").status_code == 204
    unscoped, _ = _issue(idp, _password("unscoped"))
    demo, _ = _issue(idp, _rescope(unscoped, "demo"))
    switched, body = _issue(idp, _rescope(demo, "other"))
    assert body["project"]["name"] == "other"
    refused = idp.client.post(TOKENS, json=_rescope(unscoped, "admin"))
    assert refused.status_code == 401


def test_bad_token_method_requests_are_refused(idp: IdentityApp) -> None:
    assert idp.client.post(TOKENS, json=_rescope("not-a-token", "demo")).status_code == 401
    token, _ = _issue(idp, _password("unscoped"))
    revoke = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert idp.client.delete(TOKENS, headers=revoke).status_code == 204
    assert idp.client.post(TOKENS, json=_rescope(token, "demo")).status_code == 401
    body = {"auth": {"identity": {"methods": ["token"]}, "scope": "unscoped"}}
    assert idp.client.post(TOKENS, json=body).status_code == 400
    assert idp.client.post(TOKENS, json=_password("everything")).status_code == 400


def test_a_member_reads_its_own_domain_and_no_other(idp: IdentityApp) -> None:
    assert idp.call("GET", "/domains/default", "alice").status_code == 200
    made = idp.call("POST", "/domains", json={"domain": {"name": "elsewhere"}}).json["domain"]
    assert idp.call("GET", f"/domains/{made['id']}", "alice").status_code == 403
