"""A flavor deleted under running servers: they keep their own copy of it, so their
quota usage, resizes and reverts go on as before, even once a new flavor takes its id."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Stack
from workflows.common import server_workflow_id

FLAVORS = "/compute/v2.1/flavors"


def _h(stack: Stack, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user)}


def _flavor(stack: Stack, vcpus: int, ram: int, disk: int = 1) -> None:
    spec = {"name": f"tmp-{ram}", "id": "tmp", "ram": ram, "vcpus": vcpus, "disk": disk}
    body = {"flavor": spec}
    assert stack.client.post(FLAVORS, json=body, headers=_h(stack, "admin")).status_code == 200


def _server(stack: Stack) -> str:
    body = {"server": {"name": "vm", "flavorRef": "tmp", "imageRef": stack.image_id()}}
    r = stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack))
    assert r.status_code == 202, r.json
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _usage(stack: Stack) -> tuple[int, int]:
    absolute = stack.client.get("/compute/v2.1/limits", headers=_h(stack)).json["limits"]
    return absolute["absolute"]["totalCoresUsed"], absolute["absolute"]["totalRAMUsed"]


def _act(stack: Stack, server_id: str, body: Any) -> int:
    url = f"/compute/v2.1/servers/{server_id}/action"
    return int(stack.client.post(url, json=body, headers=_h(stack)).status_code)


def _domain(stack: Stack, server_id: str) -> tuple[int, int]:
    spec = stack.hypervisor.domains[f"nimbus-{server_id}"].spec
    return spec.vcpus, spec.memory_mib


def test_a_server_outlives_its_flavor(stack: Stack) -> None:
    _flavor(stack, 2, 768)
    server_id = _server(stack)
    assert stack.client.delete(f"{FLAVORS}/tmp", headers=_h(stack, "admin")).status_code == 202
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=_h(stack))
    assert shown.status_code == 200 and shown.json["server"]["flavor"]["id"] == "tmp"
    assert _usage(stack) == (2, 768)
    _flavor(stack, 1, 256)  # a new flavor under the old id describes new servers only
    assert _usage(stack) == (2, 768)
    assert _act(stack, server_id, {"resize": {"flavorRef": "3"}}) == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    assert _act(stack, server_id, {"revertResize": None}) == 202
    stack.finish(server_workflow_id(server_id, "revert-resize"))
    assert _domain(stack, server_id) == (2, 768)
    assert _usage(stack) == (2, 768)


def test_a_resize_onto_a_reused_id_takes_the_new_flavor(stack: Stack) -> None:
    _flavor(stack, 2, 768)
    server_id = _server(stack)
    stack.client.delete(f"{FLAVORS}/tmp", headers=_h(stack, "admin"))
    _flavor(stack, 1, 1024, disk=40)  # flavor 3's disk: no shrink
    assert _act(stack, server_id, {"resize": {"flavorRef": "3"}}) == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    assert _act(stack, server_id, {"confirmResize": None}) == 204
    stack.finish(server_workflow_id(server_id, "confirm-resize"))
    assert _act(stack, server_id, {"resize": {"flavorRef": "tmp"}}) == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    assert _domain(stack, server_id) == (1, 1024)
    assert _usage(stack) == (1, 1024)
