"""Keystone v3 admin API: domains, projects, users, roles, assignments, the catalog views,
and who may do what."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nimbus.db import Quota, QuotaLock, Server
from nimbus.db_audit import AuditEvent
from tests.support.identity import IdentityApp, identity_app


@pytest.fixture
def idp(tmp_path: Path, database_url: str) -> Iterator[IdentityApp]:
    yield from identity_app(tmp_path, database_url=database_url)


def _make_project(idp: IdentityApp, name: str = "p1", **extra: Any) -> dict[str, Any]:
    response = idp.call("POST", "/projects", json={"project": {"name": name, **extra}})
    assert response.status_code == 201, response.json
    return dict(response.json["project"])


def _make_user(idp: IdentityApp, name: str = "u1", **extra: Any) -> dict[str, Any]:
    body = {"user": {"name": name, "password": f"{name}-pw", **extra}}
    response = idp.call("POST", "/users", json=body)
    assert response.status_code == 201, response.json
    return dict(response.json["user"])


def _role_id(idp: IdentityApp, name: str) -> str:
    return str(idp.call("GET", f"/roles?name={name}").json["roles"][0]["id"])


def _grant(idp: IdentityApp, project: str, user: str, role: str = "member") -> int:
    path = f"/projects/{project}/users/{user}/roles/{_role_id(idp, role)}"
    return int(idp.call("PUT", path).status_code)


def test_default_domain_is_listed_and_found_by_name(idp: IdentityApp) -> None:
    domains = idp.call("GET", "/domains?name=Default").json["domains"]
    assert [(d["id"], d["name"], d["enabled"]) for d in domains] == [("default", "Default", True)]
    assert idp.call("GET", "/domains/default").json["domain"]["name"] == "Default"
    assert idp.call("GET", "/domains?name=nope").json["domains"] == []


def test_default_domain_cannot_be_deleted_or_disabled(idp: IdentityApp) -> None:
    assert idp.call("DELETE", "/domains/default").status_code == 403
    body = {"domain": {"enabled": False}}
    assert idp.call("PATCH", "/domains/default", json=body).status_code == 403


def test_domain_lifecycle_requires_disabling_then_empty(idp: IdentityApp) -> None:
    created = idp.call("POST", "/domains", json={"domain": {"name": "d2"}})
    assert created.status_code == 201
    domain_id = created.json["domain"]["id"]
    assert idp.call("POST", "/domains", json={"domain": {"name": "d2"}}).status_code == 409
    _make_project(idp, "inside", domain_id=domain_id)
    assert idp.call("DELETE", f"/domains/{domain_id}").status_code == 403
    idp.call("PATCH", f"/domains/{domain_id}", json={"domain": {"enabled": False}})
    assert idp.call("DELETE", f"/domains/{domain_id}").status_code == 409


def test_project_create_show_update_list_delete(idp: IdentityApp) -> None:
    project = _make_project(idp, "p1", description="first")
    assert project["domain_id"] == "default" and project["enabled"] is True
    assert idp.call("POST", "/projects", json={"project": {"name": "p1"}}).status_code == 409
    patch = {"project": {"name": "p1b", "description": "renamed", "enabled": False}}
    updated = idp.call("PATCH", f"/projects/{project['id']}", json=patch).json["project"]
    assert (updated["name"], updated["description"], updated["enabled"]) == (
        "p1b",
        "renamed",
        False,
    )
    listed = idp.call("GET", "/projects?enabled=false").json["projects"]
    assert [p["name"] for p in listed] == ["p1b"]
    assert idp.call("GET", "/projects?name=p1b&domain_id=default").json["projects"][0]["id"]
    assert idp.call("DELETE", f"/projects/{project['id']}").status_code == 204
    assert idp.call("GET", f"/projects/{project['id']}").status_code == 404


def test_project_owning_a_server_cannot_be_deleted(idp: IdentityApp) -> None:
    project = _make_project(idp)
    with idp.db.session() as s:
        s.add(Server(project_id=project["id"], user_id="u", name="vm", flavor_id="1", image_id="i"))
    response = idp.call("DELETE", f"/projects/{project['id']}")
    assert response.status_code == 409 and "servers (1)" in response.json["error"]["message"]


def test_deleting_a_project_removes_its_assignments_and_default_reference(
    idp: IdentityApp,
) -> None:
    project = _make_project(idp)
    user = _make_user(idp, default_project_id=project["id"])
    assert _grant(idp, project["id"], user["id"]) == 204
    assert idp.call("DELETE", f"/projects/{project['id']}").status_code == 204
    assert idp.call("GET", f"/role_assignments?user.id={user['id']}").json["role_assignments"] == []
    assert idp.call("GET", f"/users/{user['id']}").json["user"]["default_project_id"] is None


def test_a_projects_quotas_go_with_it_and_its_audit_trail_stays(idp: IdentityApp) -> None:
    project = _make_project(idp)
    with idp.db.session() as s:
        s.add(Quota(project_id=project["id"], resource="instances", hard_limit=3))
        s.add(QuotaLock(project_id=project["id"]))
        s.add(
            AuditEvent(
                request_id="req-x",
                project_id=project["id"],
                method="POST",
                route="/x",
                path="/x",
                status=202,
            )
        )
    assert idp.call("DELETE", f"/projects/{project['id']}").status_code == 204
    with idp.db.session() as s:
        assert s.scalars(select(Quota).where(Quota.project_id == project["id"])).all() == []
        assert s.get(QuotaLock, project["id"]) is None
        kept = s.scalars(select(AuditEvent).where(AuditEvent.project_id == project["id"]))
        assert len(kept.all()) == 1


def test_user_create_never_shows_a_password(idp: IdentityApp) -> None:
    user = _make_user(idp, "carol", email="c@example.org", description="d")
    assert "password" not in user and not any("hash" in key for key in user)
    shown = idp.call("GET", f"/users/{user['id']}").json["user"]
    assert shown["email"] == "c@example.org" and "carol-pw" not in str(shown)
    assert set(shown) - {"password_expires_at"} == {k for k in shown if "password" not in k}
    assert idp.call("POST", "/users", json={"user": {"name": "carol"}}).status_code == 409
    assert [u["name"] for u in idp.call("GET", "/users?name=carol").json["users"]] == ["carol"]


def test_new_user_with_a_role_authenticates(idp: IdentityApp) -> None:
    project = _make_project(idp)
    user = _make_user(idp, default_project_id=project["id"])
    assert _grant(idp, project["id"], user["id"]) == 204
    token = idp.token("u1", "u1-pw", "p1")
    projects = idp.client.get(
        f"/identity/v3/users/{user['id']}/projects", headers={"X-Auth-Token": token}
    )
    assert [p["name"] for p in projects.json["projects"]] == ["p1"]


def test_role_assignments_grant_check_list_revoke(idp: IdentityApp) -> None:
    project, user = _make_project(idp), _make_user(idp)
    member = _role_id(idp, "member")
    path = f"/projects/{project['id']}/users/{user['id']}/roles/{member}"
    assert idp.call("HEAD", path).status_code == 404
    assert idp.call("PUT", path).status_code == 204
    assert idp.call("PUT", path).status_code == 204
    assert idp.call("HEAD", path).status_code == 204
    roles = idp.call("GET", f"/projects/{project['id']}/users/{user['id']}/roles").json
    assert [r["name"] for r in roles["roles"]] == ["member"]
    query = f"/role_assignments?user.id={user['id']}&scope.project.id={project['id']}"
    named = idp.call("GET", query + "&include_names=True").json["role_assignments"]
    default = {"id": "default", "name": "Default"}
    assert named == [
        {
            "role": {"id": member, "name": "member"},
            "user": {"id": user["id"], "name": "u1", "domain": default},
            "scope": {"project": {"id": project["id"], "name": "p1", "domain": default}},
            "links": {"assignment": idp.settings.public_url + "/identity/v3" + path},
        }
    ]
    effective = idp.call("GET", query + "&effective").json["role_assignments"]
    assert {a["role"]["id"] for a in effective} == {member, _role_id(idp, "reader")}
    assert idp.call("DELETE", path).status_code == 204
    assert idp.call("DELETE", path).status_code == 404


def test_domain_scoped_grants_are_refused_clearly(idp: IdentityApp) -> None:
    user = _make_user(idp)
    path = f"/domains/default/users/{user['id']}/roles/{_role_id(idp, 'member')}"
    response = idp.call("PUT", path)
    assert response.status_code == 400 and "project" in response.json["error"]["message"]


def test_built_in_roles_cannot_be_deleted_custom_ones_can(idp: IdentityApp) -> None:
    assert idp.call("DELETE", f"/roles/{_role_id(idp, 'member')}").status_code == 403
    created = idp.call("POST", "/roles", json={"role": {"name": "auditor"}})
    assert created.status_code == 201
    assert idp.call("POST", "/roles", json={"role": {"name": "auditor"}}).status_code == 409
    assert idp.call("DELETE", f"/roles/{created.json['role']['id']}").status_code == 204
    assert idp.call("GET", "/roles?name=auditor").json["roles"] == []


def test_services_endpoints_and_regions_match_the_token_catalog(idp: IdentityApp) -> None:
    services = idp.call("GET", "/services").json["services"]
    assert {"identity", "compute", "image", "network", "volumev3"} <= {s["type"] for s in services}
    endpoints = idp.call("GET", "/endpoints?interface=public").json["endpoints"]
    ids = {s["id"] for s in services}
    assert all(e["service_id"] in ids for e in endpoints)
    volume = next(s for s in services if s["type"] == "volumev3")
    url = next(e["url"] for e in endpoints if e["service_id"] == volume["id"])
    assert url.endswith("/volume/v3/%(project_id)s")
    regions = idp.call("GET", "/regions").json["regions"]
    assert [r["id"] for r in regions] == [idp.settings.region]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/projects"),
        ("POST", "/projects"),
        ("GET", "/users"),
        ("POST", "/users"),
        ("GET", "/roles"),
        ("POST", "/roles"),
        ("GET", "/domains"),
        ("GET", "/role_assignments"),
        ("GET", "/services"),
        ("GET", "/endpoints"),
    ],
)
def test_admin_actions_are_forbidden_to_a_member(idp: IdentityApp, method: str, path: str) -> None:
    response = idp.call(method, path, user="alice", json={"project": {"name": "x"}})
    assert response.status_code == 403


def test_member_sees_itself_and_its_project_but_no_other(idp: IdentityApp) -> None:
    token = idp.token("alice")
    body = idp.client.get(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}
    ).json
    me, project = body["token"]["user"]["id"], body["token"]["project"]["id"]
    h = {"X-Auth-Token": token}
    assert idp.client.get(f"/identity/v3/users/{me}", headers=h).status_code == 200
    assert idp.client.get(f"/identity/v3/projects/{project}", headers=h).status_code == 200
    assert idp.client.get(f"/identity/v3/users/{me}/projects", headers=h).status_code == 200
    bob = idp.call("GET", "/users?name=bob").json["users"][0]["id"]
    assert idp.client.get(f"/identity/v3/users/{bob}", headers=h).status_code == 403
    other = idp.call("GET", "/projects?name=other").json["projects"][0]["id"]
    assert idp.client.get(f"/identity/v3/projects/{other}", headers=h).status_code == 403


def test_no_token_is_401(idp: IdentityApp) -> None:
    assert idp.client.get("/identity/v3/projects").status_code == 401
    assert idp.client.get("/identity/v3/users", headers={"X-Auth-Token": "bad"}).status_code == 401
