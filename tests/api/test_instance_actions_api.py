"""Instance actions by microversion over the fake drivers: events for the server's
readers from 2.51 (the traceback for admins only), paging and time filters from 2.58
(changes-before from 2.66), hosts from 2.62; bad parameters are 400."""

from __future__ import annotations

import hashlib
from typing import Any

from nimbus.errors import InvalidSpec
from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _h(stack: Stack, user: str = "alice", version: str = "2.1") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user), "OpenStack-API-Version": f"compute {version}"}


def _server_with_a_failed_pause(stack: Stack) -> str:
    """A server with three actions: create, reboot, and a pause the hypervisor refused."""
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id()}}
    r = stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack))
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    url = f"/compute/v2.1/servers/{server_id}/action"
    assert (
        stack.client.post(url, json={"reboot": {"type": "HARD"}}, headers=_h(stack)).status_code
        == 202
    )
    stack.finish(server_workflow_id(server_id, "reboot"))
    stack.hypervisor.fail("pause", InvalidSpec("qemu refused"))
    assert stack.client.post(url, json={"pause": None}, headers=_h(stack)).status_code == 202
    stack.finish(server_workflow_id(server_id, "pause"))
    return server_id


def _actions(stack: Stack, server_id: str, query: str = "", **kw: Any) -> Any:
    url = f"/compute/v2.1/servers/{server_id}/os-instance-actions{query}"
    return stack.client.get(url, headers=_h(stack, **kw))


def _failed_events(stack: Stack, server_id: str, user: str, version: str) -> Any:
    failed = _actions(stack, server_id).json["instanceActions"][0]["request_id"]
    url = f"/compute/v2.1/servers/{server_id}/os-instance-actions/{failed}"
    return (
        stack.client.get(url, headers=_h(stack, user, version)).json["instanceAction"].get("events")
    )


def test_events_show_to_readers_from_2_51_without_the_traceback(stack: Stack) -> None:
    server_id = _server_with_a_failed_pause(stack)
    assert _failed_events(stack, server_id, "rita", "2.50") is None
    events = _failed_events(stack, server_id, "rita", "2.51")
    assert events[0]["event"] == "pause_domain" and events[0]["result"] == "Error"
    assert all("traceback" not in e and "host" not in e for e in events)
    admin = _failed_events(stack, server_id, "admin", "2.51")
    assert "qemu refused" in admin[0]["traceback"] and "host" not in admin[0]


def test_from_2_62_events_have_a_host_id_and_admins_the_host(stack: Stack) -> None:
    server_id = _server_with_a_failed_pause(stack)
    project = stack.token_info(stack.token("alice"))["project"]["id"]
    host = stack.settings.host_name
    admin = _failed_events(stack, server_id, "admin", "2.62")[0]
    assert admin["host"] == host  # pause_domain runs on the server's hypervisor host
    assert admin["hostId"] == hashlib.sha224((project + host).encode()).hexdigest()
    reader = _failed_events(stack, server_id, "rita", "2.62")[0]
    assert reader["hostId"] == admin["hostId"] and "host" not in reader


def test_from_2_58_actions_page_with_a_next_link_and_carry_updated_at(stack: Stack) -> None:
    server_id = _server_with_a_failed_pause(stack)
    every = _actions(stack, server_id, version="2.58").json["instanceActions"]
    assert [a["action"] for a in every] == ["pause", "reboot", "create"]
    assert all(a["updated_at"] >= a["start_time"] for a in every)
    assert "updated_at" not in _actions(stack, server_id, version="2.57").json["instanceActions"][0]
    first = _actions(stack, server_id, "?limit=2", version="2.58").json
    assert first["instanceActions"] == every[:2]
    (link,) = first["links"]
    assert link["rel"] == "next" and f"marker={every[1]['request_id']}" in link["href"]
    rest = _actions(stack, server_id, f"?marker={every[1]['request_id']}", version="2.58").json
    assert rest["instanceActions"] == every[2:] and "links" not in rest
    old = _actions(stack, server_id, "?limit=1", version="2.57").json
    assert len(old["instanceActions"]) == 3 and "links" not in old


def test_changes_since_and_before_filter_on_updated_at(stack: Stack) -> None:
    server_id = _server_with_a_failed_pause(stack)
    every = _actions(stack, server_id, version="2.66").json["instanceActions"]
    newest = every[0]["updated_at"]
    since = _actions(stack, server_id, f"?changes-since={newest}", version="2.58").json
    assert every[0] in since["instanceActions"]
    assert all(a["updated_at"] >= newest for a in since["instanceActions"])
    future = _actions(stack, server_id, "?changes-since=2999-01-01T00:00:00Z", version="2.58")
    assert future.json["instanceActions"] == []
    before = _actions(stack, server_id, "?changes-before=2000-01-01T00:00:00Z", version="2.66")
    assert before.json["instanceActions"] == []
    upto = _actions(stack, server_id, f"?changes-before={newest}", version="2.66").json
    assert upto["instanceActions"] == every


def test_bad_list_parameters_are_400(stack: Stack) -> None:
    server_id = _server_with_a_failed_pause(stack)
    for query, version in (
        ("?limit=-1", "2.58"),
        ("?limit=x", "2.58"),
        ("?marker=req-nope", "2.58"),
        ("?changes-since=yesterday", "2.58"),
        ("?changes-before=2026-01-01T00:00:00Z", "2.58"),  # not before 2.66
        ("?changes-since=2026-02-01T00:00:00Z&changes-before=2026-01-01T00:00:00Z", "2.66"),
        ("?colour=red", "2.58"),
    ):
        assert _actions(stack, server_id, query, version=version).status_code == 400, query
    assert _actions(stack, server_id, "?colour=red", version="2.57").status_code == 200
    assert _actions(stack, server_id, version="2.66", user="bob").status_code == 404
