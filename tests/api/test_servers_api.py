"""Nova v2.1 shape: flavors, servers, errors; bad input changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from nimbus.db import Host, Server
from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _headers(stack: Stack, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user)}


def _server_count(stack: Stack) -> int:
    with stack.db.session() as s:
        return s.query(Server).count()


def _create(stack: Stack, body: Any, user: str = "alice") -> Any:
    return stack.client.post("/compute/v2.1/servers", json=body, headers=_headers(stack, user))


def _good(stack: Stack, **over: Any) -> dict[str, Any]:
    return {"server": {"name": "vm1", "flavorRef": "1", "imageRef": stack.image_id(), **over}}


def test_flavors_detail_has_the_fields_the_cli_reads(stack: Stack) -> None:
    flavors = stack.client.get(
        "/compute/v2.1/flavors/detail?is_public=True", headers=_headers(stack)
    ).json["flavors"]
    tiny = next(f for f in flavors if f["name"] == "m1.tiny")
    for key in (
        "id",
        "ram",
        "disk",
        "vcpus",
        "OS-FLV-EXT-DATA:ephemeral",
        "os-flavor-access:is_public",
    ):
        assert key in tiny


def test_flavors_page_and_filter_as_nova_does(stack: Stack) -> None:
    url, h = "/compute/v2.1/flavors/detail", _headers(stack)
    every = [f["id"] for f in stack.client.get(url, headers=h).json["flavors"]]
    assert len(every) >= 3
    first = stack.client.get(url, query_string={"limit": 2}, headers=h).json
    assert [f["id"] for f in first["flavors"]] == every[:2]
    (link,) = first["flavors_links"]
    assert link["rel"] == "next" and f"marker={every[1]}" in link["href"]
    rest = stack.client.get(url, query_string={"marker": every[1]}, headers=h).json
    assert [f["id"] for f in rest["flavors"]] == every[2:] and "flavors_links" not in rest
    big = stack.client.get(url, query_string={"minRam": 1024}, headers=h).json["flavors"]
    assert big and all(f["ram"] >= 1024 for f in big) and len(big) < len(every)
    for bad in ({"marker": "no-such-flavor"}, {"limit": "-1"}, {"minRam": "lots"}):
        assert stack.client.get(url, query_string=bad, headers=h).status_code == 400


def test_created_server_is_listed_shown_renamed(stack: Stack) -> None:
    response = _create(stack, _good(stack))
    assert response.status_code == 202
    assert "adminPass" not in response.json["server"]  # no password is set in the guest
    server_id = response.json["server"]["id"]
    stack.finish(server_workflow_id(server_id, "boot"))
    h = _headers(stack)
    listed = stack.client.get("/compute/v2.1/servers/detail", headers=h).json["servers"]
    assert [s["id"] for s in listed] == [server_id]
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=h).json["server"]
    assert shown["status"] == "ACTIVE" and shown["OS-EXT-STS:vm_state"] == "active"
    renamed = stack.client.put(
        f"/compute/v2.1/servers/{server_id}", json={"server": {"name": "vm2"}}, headers=h
    )
    assert renamed.status_code == 200 and renamed.json["server"]["name"] == "vm2"


@pytest.mark.parametrize(
    ("over", "status", "words"),
    [
        ({"flavorRef": "999"}, 400, "Flavor 999"),
        ({"imageRef": "00000000-0000-0000-0000-000000000000"}, 400, "Image"),
        ({"name": "x" * 256}, 400, "too long"),
        ({"name": ""}, 400, "name"),
        ({"name": " padded"}, 400, "whitespace"),
        ({"networks": [{"uuid": "abc"}]}, 400, "Network abc could not be found"),
        ({"user_data": "not base64!"}, 400, "base 64"),
        ({"key_name": "mykey"}, 400, "key_name"),
        ({"metadata": {"k": 1}}, 400, "metadata"),
    ],
)
def test_bad_create_gets_4xx_and_changes_nothing(
    stack: Stack, over: dict[str, Any], status: int, words: str
) -> None:
    response = _create(stack, _good(stack, **over))
    assert response.status_code == status
    error = next(iter(response.json.values()))
    assert error["code"] == status and words in error["message"]
    assert _server_count(stack) == 0


def test_malformed_json_is_400_in_novas_shape(stack: Stack) -> None:
    response = stack.client.post(
        "/compute/v2.1/servers",
        data="{oops",
        content_type="application/json",
        headers=_headers(stack),
    )
    assert response.status_code == 400 and "badRequest" in response.json
    assert _server_count(stack) == 0


def test_missing_and_wrong_token_are_401(stack: Stack) -> None:
    assert stack.client.post("/compute/v2.1/servers", json=_good(stack)).status_code == 401
    response = stack.client.post(
        "/compute/v2.1/servers", json=_good(stack), headers={"X-Auth-Token": "forged"}
    )
    assert response.status_code == 401
    assert _server_count(stack) == 0


def test_reader_cannot_create_or_delete(stack: Stack) -> None:
    assert _create(stack, _good(stack), user="rita").status_code == 403
    assert _server_count(stack) == 0


def test_other_projects_server_is_404(stack: Stack) -> None:
    server_id = _create(stack, _good(stack)).json["server"]["id"]
    h = _headers(stack, "bob")
    assert stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=h).status_code == 404
    assert stack.client.delete(f"/compute/v2.1/servers/{server_id}", headers=h).status_code == 404
    assert stack.client.get("/compute/v2.1/servers", headers=h).json["servers"] == []


def test_all_tenants_needs_admin(stack: Stack) -> None:
    _create(stack, _good(stack))
    assert (
        stack.client.get("/compute/v2.1/servers?all_tenants=1", headers=_headers(stack)).status_code
        == 403
    )
    listed = stack.client.get(
        "/compute/v2.1/servers?all_tenants=1", headers=_headers(stack, "admin")
    ).json["servers"]
    assert len(listed) == 1


def test_idempotency_key_returns_the_same_server(stack: Stack) -> None:
    h = {**_headers(stack), "Idempotency-Key": "req-1"}
    first = stack.client.post("/compute/v2.1/servers", json=_good(stack), headers=h)
    again = stack.client.post("/compute/v2.1/servers", json=_good(stack), headers=h)
    assert first.json["server"]["id"] == again.json["server"]["id"]
    assert _server_count(stack) == 1


def test_an_idempotency_key_past_255_characters_is_400(stack: Stack) -> None:
    h = {**_headers(stack), "Idempotency-Key": "k" * 256}
    assert (
        stack.client.post("/compute/v2.1/servers", json=_good(stack), headers=h).status_code == 400
    )
    assert _server_count(stack) == 0


def test_a_retry_after_the_boot_ended_returns_the_same_server(stack: Stack) -> None:
    """The first answer was lost and the boot has finished since: the retry still gets
    202 and the same server, not an error from starting its boot again."""
    h = {**_headers(stack), "Idempotency-Key": "req-2"}
    first = stack.client.post("/compute/v2.1/servers", json=_good(stack), headers=h)
    stack.finish(server_workflow_id(first.json["server"]["id"], "boot"))
    again = stack.client.post("/compute/v2.1/servers", json=_good(stack), headers=h)
    assert again.status_code == 202, again.json
    assert again.json["server"]["id"] == first.json["server"]["id"]
    assert _server_count(stack) == 1


def test_stop_and_start_follow_the_domain(stack: Stack) -> None:
    server_id = _create(stack, _good(stack)).json["server"]["id"]
    stack.finish(server_workflow_id(server_id, "boot"))
    h = _headers(stack)
    url = f"/compute/v2.1/servers/{server_id}/action"
    assert stack.client.post(url, json={"os-start": None}, headers=h).status_code == 409
    assert stack.client.post(url, json={"os-stop": None}, headers=h).status_code == 202
    stack.wait_server(server_id, lambda r: r is not None and r.status == "SHUTOFF")
    assert stack.client.post(url, json={"os-start": None}, headers=h).status_code == 202
    stack.wait_server(server_id, lambda r: r is not None and r.status == "ACTIVE")


def test_console_output_comes_from_the_host(stack: Stack) -> None:
    server_id = _create(stack, _good(stack)).json["server"]["id"]
    stack.finish(server_workflow_id(server_id, "boot"))
    response = stack.client.post(
        f"/compute/v2.1/servers/{server_id}/action",
        json={"os-getConsoleOutput": {"length": None}},
        headers=_headers(stack),
    )
    assert response.status_code == 200 and "NIMBUS READY" in response.json["output"]


def test_unknown_action_is_400(stack: Stack) -> None:
    server_id = _create(stack, _good(stack)).json["server"]["id"]
    response = stack.client.post(
        f"/compute/v2.1/servers/{server_id}/action",
        json={"os-levitate": {}},
        headers=_headers(stack),
    )
    assert response.status_code == 400


def test_unsupported_microversion_is_406(stack: Stack) -> None:
    h = {**_headers(stack), "OpenStack-API-Version": "compute 2.90"}
    assert stack.client.get("/compute/v2.1/servers", headers=h).status_code == 406


def test_metrics_count_requests_by_route(stack: Stack) -> None:
    stack.client.get("/compute/v2.1/flavors", headers=_headers(stack))
    text = stack.client.get("/metrics").get_data(as_text=True)
    assert (
        'nimbus_api_requests_total{method="GET",route="/compute/v2.1/flavors",status="200"}' in text
    )


def test_host_status_at_2_16_is_for_admins_and_follows_the_heartbeat(stack: Stack) -> None:
    server_id = _create(stack, _good(stack)).json["server"]["id"]
    stack.finish(server_workflow_id(server_id, "boot"))
    url = f"/compute/v2.1/servers/{server_id}"

    def shown(user: str, version: str) -> dict[str, Any]:
        h = {**_headers(stack, user), "OpenStack-API-Version": f"compute {version}"}
        response = stack.client.get(url, headers=h)
        assert response.status_code == 200, response.json
        return dict(response.json["server"])

    assert "host_status" not in shown("admin", "2.15")
    assert "host_status" not in shown("alice", "2.16")
    assert shown("admin", "2.16")["host_status"] == "UP"
    # The live worker keeps heartbeating its own host, so the server moves to hosts it
    # does not run: one whose agent stopped long ago, then one never registered.
    with stack.db.session() as s:
        s.add(Host(name="gone", vcpus=1, memory_mib=1, heartbeat_at=dt.datetime(2000, 1, 1)))
        server = s.get(Server, server_id)
        assert server is not None
        server.host = "gone"
        s.commit()
    assert shown("admin", "2.16")["host_status"] == "DOWN"
    with stack.db.session() as s:
        server = s.get(Server, server_id)
        assert server is not None
        server.host = "never-registered"
        s.commit()
    assert shown("admin", "2.16")["host_status"] == "UNKNOWN"


def test_trigger_crash_dump_exists_from_2_17_and_changes_nothing(stack: Stack) -> None:
    server_id = _create(stack, _good(stack)).json["server"]["id"]
    stack.finish(server_workflow_id(server_id, "boot"))
    url = f"/compute/v2.1/servers/{server_id}/action"

    def act(body: Any, version: str, user: str = "alice") -> Any:
        h = {**_headers(stack, user), "OpenStack-API-Version": f"compute {version}"}
        return stack.client.post(url, json=body, headers=h)

    before = stack.server(server_id)
    assert before is not None
    below = act({"trigger_crash_dump": None}, "2.16")
    assert below.status_code == 400 and "Unsupported action" in below.json["badRequest"]["message"]
    assert act({"trigger_crash_dump": {"x": 1}}, "2.17").status_code == 400
    assert act({"trigger_crash_dump": None}, "2.17", user="bob").status_code == 404
    refused = act({"trigger_crash_dump": None}, "2.17")
    assert refused.status_code == 400, refused.json
    assert "Inject NMI is not supported" in refused.json["badRequest"]["message"]
    after = stack.server(server_id)
    assert after is not None
    assert (after.status, after.task_state) == (before.status, before.task_state)


def test_description_from_2_19_on_create_update_and_show(stack: Stack) -> None:
    def h(version: str) -> dict[str, str]:
        return {**_headers(stack), "OpenStack-API-Version": f"compute {version}"}

    servers = "/compute/v2.1/servers"
    old = stack.client.post(servers, json=_good(stack, description="d"), headers=h("2.18"))
    assert old.status_code == 400 and _server_count(stack) == 0
    for bad in ("x" * 256, "tab\there", 5):
        body = _good(stack, description=bad)
        assert stack.client.post(servers, json=body, headers=h("2.19")).status_code == 400
    assert _server_count(stack) == 0
    plain = stack.client.post(servers, json=_good(stack), headers=h("2.19")).json["server"]["id"]
    made = stack.client.post(
        servers, json=_good(stack, name="vm2", description="web"), headers=h("2.19")
    )
    assert made.status_code == 202, made.json
    server_id = made.json["server"]["id"]
    assert (
        stack.client.get(f"{servers}/{plain}", headers=h("2.19")).json["server"]["description"]
        is None
    )
    assert (
        stack.client.get(f"{servers}/{server_id}", headers=h("2.19")).json["server"]["description"]
        == "web"
    )
    assert (
        "description"
        not in stack.client.get(f"{servers}/{server_id}", headers=h("2.18")).json["server"]
    )
    old_update = {"server": {"description": "db"}}
    assert (
        stack.client.put(f"{servers}/{server_id}", json=old_update, headers=h("2.18")).status_code
        == 400
    )
    updated = stack.client.put(f"{servers}/{server_id}", json=old_update, headers=h("2.19"))
    assert updated.status_code == 200, updated.json
    assert updated.json["server"]["description"] == "db" and updated.json["server"]["name"] == "vm2"
    cleared = stack.client.put(
        f"{servers}/{server_id}", json={"server": {"description": None}}, headers=h("2.19")
    )
    assert cleared.json["server"]["description"] is None
    listed = stack.client.get(f"{servers}/detail", headers=h("2.19")).json["servers"]
    assert all("description" in x for x in listed)
