"""The audit trail: who changed what, when, and which workflow did it; admins list it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from nimbus.client import password_auth
from nimbus.db_audit import AuditEvent
from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _events(stack: Stack, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    headers = {"X-Auth-Token": token or stack.token("admin")}
    response = stack.client.get("/audit/v1/events", query_string=params, headers=headers)
    assert response.status_code == 200, response.json
    return list(response.json["events"])


def _count(stack: Stack) -> int:
    with stack.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_a_server_create_is_recorded_with_caller_resource_and_workflow(stack: Stack) -> None:
    token = stack.token("alice")
    body = {"server": {"name": "audited", "flavorRef": "1", "imageRef": stack.image_id()}}
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    response = stack.client.post(
        "/compute/v2.1/servers", json=body, headers={"X-Auth-Token": token}
    )
    assert response.status_code == 202
    server_id = response.json["server"]["id"]
    request_id = response.headers["x-openstack-request-id"]
    assert request_id.startswith("req-")
    stack.finish(server_workflow_id(server_id, "boot"))

    [event] = [e for e in _events(stack, resource_id=server_id)]
    assert event["request_id"] == request_id
    assert event["user_name"] == "alice" and event["method"] == "POST"
    assert event["route"] == "/compute/v2.1/servers" and event["status"] == 202
    assert event["workflow_ids"] == [server_workflow_id(server_id, "boot")]
    assert dt.datetime.fromisoformat(event["at"]) >= before

    deleted = stack.client.delete(
        f"/compute/v2.1/servers/{server_id}", headers={"X-Auth-Token": token}
    )
    assert deleted.status_code == 204
    newest = _events(stack, resource_id=server_id)[0]
    assert newest["method"] == "DELETE" and newest["path"].endswith(server_id)
    assert newest["workflow_ids"] == [server_workflow_id(server_id, "delete")]
    stack.finish(server_workflow_id(server_id, "delete"))


def test_refused_and_anonymous_writes_are_recorded_but_reads_are_not(stack: Stack) -> None:
    reader, admin = stack.token("rita"), stack.token("admin")
    before = _count(stack)
    assert (
        stack.client.get("/compute/v2.1/servers", headers={"X-Auth-Token": reader}).status_code
        == 200
    )
    assert _count(stack) == before
    refused = stack.client.post(
        "/networking/v2.0/networks",
        json={"network": {"name": "n"}},
        headers={"X-Auth-Token": reader},
    )
    assert refused.status_code == 403
    anonymous = stack.client.post("/networking/v2.0/networks", json={"network": {"name": "n"}})
    assert anonymous.status_code == 401
    newest, previous = _events(stack, admin, limit=2)
    assert (newest["status"], newest["user_id"], newest["workflow_ids"]) == (401, None, [])
    assert (previous["status"], previous["user_name"]) == (403, "rita")


def test_listing_is_admin_only_filtered_and_paged(stack: Stack) -> None:
    for user in ("alice", "rita"):
        response = stack.client.get("/audit/v1/events", headers={"X-Auth-Token": stack.token(user)})
        assert response.status_code == 403
    assert stack.client.get("/audit/v1/events").status_code == 401
    for i in range(3):
        stack.client.delete(f"/networking/v2.0/networks/no-such-{i}")
    page = _events(stack, limit=2, method="delete")
    assert len(page) == 2 and page[0]["id"] > page[1]["id"]
    after = _events(stack, limit=2, method="DELETE", marker=page[1]["id"])
    assert after and all(e["id"] < page[1]["id"] for e in after)
    assert _events(stack, since="2999-01-01T00:00:00Z") == []
    admin = {"X-Auth-Token": stack.token("admin")}
    for bad in ({"limit": "x"}, {"since": "yesterday"}, {"marker": "-1"}):
        response = stack.client.get("/audit/v1/events", query_string=bad, headers=admin)
        assert response.status_code == 400, bad


def test_no_request_body_is_kept(stack: Stack) -> None:
    secret = "a-distinctive-user-data-value"
    token = stack.token("alice")
    stack.client.post(
        "/networking/v2.0/networks",
        json={"network": {"name": secret}},
        headers={"X-Auth-Token": token},
    )
    with stack.db.session() as s:
        rows = s.scalars(select(AuditEvent)).all()
        assert rows and not any(secret in repr(vars(r)) for r in rows)


def test_logins_are_recorded_by_user_never_with_the_password(stack: Stack) -> None:
    admin = stack.token("admin")
    stack.token("alice")
    wrong = password_auth("alice", "not-her-password", "demo")
    assert stack.client.post("/identity/v3/auth/tokens", json=wrong).status_code == 401
    failed, logged_in = _events(stack, admin, limit=2)
    assert (failed["status"], failed["user_name"], failed["route"]) == (
        401,
        "alice",
        "/identity/v3/auth/tokens",
    )
    assert (logged_in["status"], logged_in["user_name"]) == (201, "alice")
    assert logged_in["project_id"] is not None and logged_in["user_id"] is not None
    with stack.db.session() as s:
        assert not any("not-her-password" in repr(vars(r)) for r in s.scalars(select(AuditEvent)))
