"""Resize with confirm and revert over the fake drivers: the domain gets the new flavor's
vCPUs and memory and the disk grows; confirming keeps it; reverting gives back the old
flavor and the disk as it was."""

from __future__ import annotations

from typing import Any

from activities.storage.block import root_disk_ref
from tests.support.stack import Stack
from workflows.common import server_workflow_id

GIB = 1 << 30


def _h(stack: Stack, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user)}


def _server(stack: Stack) -> str:
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id()}}
    r = stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack))
    assert r.status_code == 202, r.json
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _act(stack: Stack, server_id: str, body: Any, user: str = "alice") -> Any:
    url = f"/compute/v2.1/servers/{server_id}/action"
    return stack.client.post(url, json=body, headers=_h(stack, user))


def _show(stack: Stack, server_id: str) -> dict[str, Any]:
    r = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=_h(stack))
    return dict(r.json["server"])


def _domain(stack: Stack, server_id: str) -> Any:
    return stack.hypervisor.domains[f"nimbus-{server_id}"].spec


def test_resize_then_confirm_keeps_the_new_flavor(stack: Stack) -> None:
    server_id = _server(stack)
    r = _act(stack, server_id, {"resize": {"flavorRef": "3"}})
    assert r.status_code == 202, r.json
    stack.finish(server_workflow_id(server_id, "resize"))
    shown = _show(stack, server_id)
    assert (shown["status"], shown["OS-EXT-STS:vm_state"]) == ("VERIFY_RESIZE", "resized")
    assert shown["flavor"]["id"] == "3"
    assert (_domain(stack, server_id).vcpus, _domain(stack, server_id).memory_mib) == (2, 4096)
    disk = root_disk_ref(server_id)
    assert stack.store.size(disk) == 40 * GIB
    assert _act(stack, server_id, {"confirmResize": None}).status_code == 204
    stack.finish(server_workflow_id(server_id, "confirm-resize"))
    shown = _show(stack, server_id)
    assert (shown["status"], shown["flavor"]["id"]) == ("ACTIVE", "3")
    assert not stack.store.exists(disk.at("resize"))
    assert _act(stack, server_id, {"confirmResize": None}).status_code == 409


def test_revert_gives_back_the_flavor_and_the_disk_as_it_was(stack: Stack) -> None:
    server_id = _server(stack)
    disk = root_disk_ref(server_id)
    stack.store.write(disk, 0, b"before the resize")
    assert _act(stack, server_id, {"resize": {"flavorRef": "2"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    stack.store.write(disk, 0, b"written while resized")
    assert _act(stack, server_id, {"revertResize": None}).status_code == 202
    stack.finish(server_workflow_id(server_id, "revert-resize"))
    shown = _show(stack, server_id)
    assert (shown["status"], shown["flavor"]["id"]) == ("ACTIVE", "1")
    assert (_domain(stack, server_id).vcpus, _domain(stack, server_id).memory_mib) == (1, 512)
    assert stack.store.size(disk) == 1 * GIB
    assert b"".join(stack.store.read(disk)).startswith(b"before the resize")
    assert not stack.store.exists(disk.at("resize"))


def test_a_stopped_server_stays_stopped(stack: Stack) -> None:
    server_id = _server(stack)
    assert _act(stack, server_id, {"os-stop": None}).status_code == 202
    stack.finish(server_workflow_id(server_id, "stop"))
    assert _act(stack, server_id, {"resize": {"flavorRef": "2"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    assert _show(stack, server_id)["status"] == "VERIFY_RESIZE"
    assert _act(stack, server_id, {"confirmResize": None}).status_code == 204
    stack.finish(server_workflow_id(server_id, "confirm-resize"))
    assert _show(stack, server_id)["status"] == "SHUTOFF"


def test_what_a_resize_refuses(stack: Stack) -> None:
    server_id = _server(stack)
    for body, status in [
        ({"resize": {}}, 400),
        ({"resize": {"flavorRef": "1"}}, 400),  # the same flavor
        ({"resize": {"flavorRef": "no-such-flavor"}}, 400),
        ({"resize": {"flavorRef": "2", "extra": 1}}, 400),
        ({"resize": "2"}, 400),
        ({"confirmResize": None}, 409),
        ({"revertResize": None}, 409),
    ]:
        assert _act(stack, server_id, body).status_code == status, body
    assert _act(stack, server_id, {"resize": {"flavorRef": "2"}}, "rita").status_code == 403
    assert _act(stack, server_id, {"resize": {"flavorRef": "2"}}, "bob").status_code == 404
    project = stack.token_info(_h(stack)["X-Auth-Token"])["project"]["id"]
    quota = f"/compute/v2.1/os-quota-sets/{project}"
    small = {"quota_set": {"ram": 1024}}
    assert stack.client.put(quota, json=small, headers=_h(stack, "admin")).status_code == 200
    over = _act(stack, server_id, {"resize": {"flavorRef": "2"}})  # 2 GiB of memory
    assert over.status_code == 403, over.json
    large = {"quota_set": {"ram": 51200}}
    assert stack.client.put(quota, json=large, headers=_h(stack, "admin")).status_code == 200
    shown = _show(stack, server_id)
    assert (shown["status"], shown["flavor"]["id"]) == ("ACTIVE", "1")
    assert _act(stack, server_id, {"resize": {"flavorRef": "3"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    smaller = _act(stack, server_id, {"revertResize": None})
    assert smaller.status_code == 202
    stack.finish(server_workflow_id(server_id, "revert-resize"))
    assert _act(stack, server_id, {"resize": {"flavorRef": "3"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    confirmed = _act(stack, server_id, {"confirmResize": None})
    assert confirmed.status_code == 204
    stack.finish(server_workflow_id(server_id, "confirm-resize"))
    down = _act(stack, server_id, {"resize": {"flavorRef": "2"}})  # 40 GiB disk down to 20
    assert down.status_code == 400


def test_a_snapshot_a_failed_resize_left_is_not_what_a_revert_returns_to(stack: Stack) -> None:
    server_id = _server(stack)
    disk = root_disk_ref(server_id)
    stack.store.write(disk, 0, b"long ago")
    stack.store.snapshot(disk.at("resize"))  # as a resize that failed would leave it
    stack.store.write(disk, 0, b"just now")
    assert _act(stack, server_id, {"resize": {"flavorRef": "2"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    assert _act(stack, server_id, {"revertResize": None}).status_code == 202
    stack.finish(server_workflow_id(server_id, "revert-resize"))
    assert b"".join(stack.store.read(disk)).startswith(b"just now")
