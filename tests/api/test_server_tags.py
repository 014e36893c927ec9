"""Server tags (compute 2.26), as Nova serves them to ``openstack server set/unset --tag``
and ``server list --tags``."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.db import Server
from tests.support.cli_local import cli, ok, openstack, served, settings
from tests.support.stack import Stack
from workflows.common import server_workflow_id

__all__ = ["served", "settings"]  # fixtures, used by name

V226 = {"OpenStack-API-Version": "compute 2.26"}


def _h(stack: Stack, user: str = "alice", version: dict[str, str] | None = None) -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user), **(V226 if version is None else version)}


def _server(stack: Stack, name: str = "vm") -> str:
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": stack.image_id()}}
    r = stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack))
    assert r.status_code == 202, r.json
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _tags(stack: Stack, server_id: str) -> Any:
    return stack.client.get(f"/compute/v2.1/servers/{server_id}/tags", headers=_h(stack)).json


def test_add_check_replace_and_delete_tags(stack: Stack) -> None:
    server_id = _server(stack)
    url, h = f"/compute/v2.1/servers/{server_id}/tags", _h(stack)
    added = stack.client.put(f"{url}/web", headers=h)
    assert added.status_code == 201 and added.headers["Location"].endswith(f"{url[12:]}/web")
    assert stack.client.put(f"{url}/web", headers=h).status_code == 204  # already there
    assert stack.client.get(f"{url}/web", headers=h).status_code == 204
    assert stack.client.get(f"{url}/db", headers=h).status_code == 404
    replaced = stack.client.put(url, json={"tags": ["a", "b", "a"]}, headers=h)
    assert replaced.status_code == 200 and replaced.json == {"tags": ["a", "b"]}
    assert stack.client.delete(f"{url}/a", headers=h).status_code == 204
    assert stack.client.delete(f"{url}/a", headers=h).status_code == 404
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=h).json["server"]
    assert shown["tags"] == ["b"]
    assert stack.client.delete(url, headers=h).status_code == 204
    assert _tags(stack, server_id) == {"tags": []}


def test_below_2_26_there_are_no_tags(stack: Stack) -> None:
    server_id = _server(stack)
    old = _h(stack, version={})
    assert (
        stack.client.get(f"/compute/v2.1/servers/{server_id}/tags", headers=old).status_code == 404
    )
    assert (
        stack.client.put(f"/compute/v2.1/servers/{server_id}/tags/x", headers=old).status_code
        == 404
    )
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=old).json["server"]
    assert "tags" not in shown
    assert _tags(stack, server_id) == {"tags": []}


def test_bad_tags_are_refused_and_change_nothing(stack: Stack) -> None:
    server_id = _server(stack)
    url, h = f"/compute/v2.1/servers/{server_id}/tags", _h(stack)
    stack.client.put(f"{url}/keep", headers=h)
    for body in (
        {"tags": ["x" * 61]},
        {"tags": ["a,b"]},
        {"tags": [""]},
        {"tags": [1]},
        {"tags": "web"},
        {"tag": ["web"]},
        {"tags": [f"t{i}" for i in range(51)]},
    ):
        assert stack.client.put(url, json=body, headers=h).status_code == 400, body
    assert stack.client.put(f"{url}/{'x' * 61}", headers=h).status_code == 400
    assert stack.client.put(f"{url}/a,b", headers=h).status_code == 400
    stack.client.put(url, json={"tags": [f"t{i}" for i in range(50)]}, headers=h)
    assert stack.client.put(f"{url}/one-more", headers=h).status_code == 400
    assert len(_tags(stack, server_id)["tags"]) == 50


def test_who_may_tag_and_when(stack: Stack) -> None:
    server_id = _server(stack)
    url = f"/compute/v2.1/servers/{server_id}/tags"
    assert stack.client.put(f"{url}/x", headers=_h(stack, "rita")).status_code == 403
    assert stack.client.get(url, headers=_h(stack, "rita")).status_code == 200
    assert stack.client.put(f"{url}/x", headers=_h(stack, "bob")).status_code == 404
    assert stack.client.get(url, headers=_h(stack, "bob")).status_code == 404
    missing = "/compute/v2.1/servers/00000000-0000-0000-0000-000000000000/tags/x"
    assert stack.client.put(missing, headers=_h(stack)).status_code == 404
    with stack.db.session() as s:
        row = s.get(Server, server_id)
        assert row is not None
        row.task_state = "rebooting"
    assert stack.client.put(f"{url}/x", headers=_h(stack)).status_code == 409
    assert _tags(stack, server_id) == {"tags": []}


def test_list_filters_by_tags(stack: Stack) -> None:
    web, db, bare = _server(stack, "web"), _server(stack, "db"), _server(stack, "bare")
    h = _h(stack)
    stack.client.put(f"/compute/v2.1/servers/{web}/tags", json={"tags": ["a", "b"]}, headers=h)
    stack.client.put(f"/compute/v2.1/servers/{db}/tags", json={"tags": ["b", "c"]}, headers=h)

    def listed(query: str) -> set[str]:
        r = stack.client.get(f"/compute/v2.1/servers/detail?{query}", headers=h)
        return {x["id"] for x in r.json["servers"]}

    assert listed("tags=a,b") == {web}
    assert listed("tags-any=a,c") == {web, db}
    assert listed("not-tags=b,c") == {web, bare}
    assert listed("not-tags-any=a,c") == {bare}
    assert listed("tags=b&not-tags-any=a") == {db}


@pytest.mark.one_database
def test_tags_with_the_cli(served: Stack) -> None:
    s = served
    server_id = _server(s, "tagged")
    _server(s, "plain")
    v = "--os-compute-api-version 2.26"
    ok(s, "alice", f"{v} server set --tag web --tag blue tagged")
    assert cli(s, "alice", f"{v} server show tagged")["tags"] == ["web", "blue"]
    assert [x["ID"] for x in cli(s, "alice", f"{v} server list --tags web")] == [server_id]
    ok(s, "alice", f"{v} server unset --tag web tagged")
    assert cli(s, "alice", f"{v} server show tagged")["tags"] == ["blue"]
    refused = openstack(s, "alice", f"{v} server set --tag a/b tagged")
    assert refused.returncode != 0 and "a/b" in refused.stderr
