"""A server's metadata subresource, as Nova serves it to ``openstack server set/unset
--property`` and openstacksdk."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _h(stack: Stack, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user)}


def _server(stack: Stack, **extra: Any) -> str:
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id(), **extra}}
    r = stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack))
    assert r.status_code == 202, r.json
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def test_read_merge_replace_and_one_key_at_a_time(stack: Stack) -> None:
    server_id = _server(stack, metadata={"a": "1"})
    url, h = f"/compute/v2.1/servers/{server_id}/metadata", _h(stack)
    assert stack.client.get(url, headers=h).json == {"metadata": {"a": "1"}}
    merged = stack.client.post(url, json={"metadata": {"b": "2"}}, headers=h)
    assert merged.status_code == 200 and merged.json == {"metadata": {"a": "1", "b": "2"}}
    replaced = stack.client.put(url, json={"metadata": {"c": "3"}}, headers=h)
    assert replaced.status_code == 200 and replaced.json == {"metadata": {"c": "3"}}
    item = stack.client.put(f"{url}/d", json={"meta": {"d": "4"}}, headers=h)
    assert item.status_code == 200 and item.json == {"meta": {"d": "4"}}
    assert stack.client.get(f"{url}/d", headers=h).json == {"meta": {"d": "4"}}
    assert stack.client.delete(f"{url}/c", headers=h).status_code == 204
    assert stack.client.delete(f"{url}/c", headers=h).status_code == 404
    assert stack.client.get(f"{url}/c", headers=h).status_code == 404
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=h).json["server"]
    assert shown["metadata"] == {"d": "4"}


def test_bad_metadata_is_refused_and_changes_nothing(stack: Stack) -> None:
    server_id = _server(stack, metadata={"a": "1"})
    url, h = f"/compute/v2.1/servers/{server_id}/metadata", _h(stack)
    for body, status in [
        ({"metadata": {"": "x"}}, 400),
        ({"metadata": {"k": 5}}, 400),
        ({"metadata": {"k": "v" * 256}}, 400),
        ({"metadata": ["k"]}, 400),
        ({"meta": {"k": "v"}}, 400),
        ({"metadata": {f"k{i}": "v" for i in range(129)}}, 403),
    ]:
        for method in ("POST", "PUT"):
            r = stack.client.open(url, method=method, json=body, headers=h)
            assert r.status_code == status, (method, body, r.json)
    one = f"{url}/k"
    assert stack.client.put(one, json={"meta": {"other": "v"}}, headers=h).status_code == 400
    two = {"meta": {"k": "v", "j": "w"}}
    assert stack.client.put(one, json=two, headers=h).status_code == 400
    many = {"metadata": {f"k{i}": "v" for i in range(128)}}
    assert stack.client.post(url, json=many, headers=h).status_code == 403  # 128 + "a": 129
    assert stack.client.get(url, headers=h).json == {"metadata": {"a": "1"}}
    too_many = {f"k{i}": "v" for i in range(129)}
    body = {"server": {"name": "x", "flavorRef": "1", "imageRef": stack.image_id()}}
    body["server"]["metadata"] = too_many
    assert stack.client.post("/compute/v2.1/servers", json=body, headers=h).status_code == 403


def test_who_may_change_it(stack: Stack) -> None:
    server_id = _server(stack)
    url = f"/compute/v2.1/servers/{server_id}/metadata"
    body = {"metadata": {"k": "v"}}
    assert stack.client.post(url, json=body, headers=_h(stack, "rita")).status_code == 403
    assert stack.client.post(url, json=body, headers=_h(stack, "bob")).status_code == 404
    assert stack.client.get(url, headers=_h(stack, "bob")).status_code == 404
    lock = {"lock": None}
    action = f"/compute/v2.1/servers/{server_id}/action"
    assert stack.client.post(action, json=lock, headers=_h(stack)).status_code == 202
    assert stack.client.post(url, json=body, headers=_h(stack)).status_code == 409
    assert stack.client.post(url, json=body, headers=_h(stack, "admin")).status_code == 200
    assert stack.client.get(url, headers=_h(stack)).json == {"metadata": {"k": "v"}}
