"""The rebuild action over the fake drivers: the server gets a fresh root disk cloned
from the (same or another) image on its host, keeps its id and ports, and ends as it was
(ACTIVE, or SHUTOFF when stopped)."""

from __future__ import annotations

from typing import Any

from activities.storage.block import root_disk_ref
from nimbus.db import Server
from tests.support.neutron import Neutron
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


def _act(stack: Stack, server_id: str, body: Any, user: str = "alice") -> Any:
    url = f"/compute/v2.1/servers/{server_id}/action"
    return stack.client.post(url, json=body, headers=_h(stack, user))


def _image(stack: Stack, data: bytes) -> str:
    h = _h(stack)
    body = {"name": "other", "disk_format": "raw", "container_format": "bare"}
    image_id = str(stack.client.post("/image/v2/images", json=body, headers=h).json["id"])
    put = stack.client.put(
        f"/image/v2/images/{image_id}/file",
        data=data,
        content_type="application/octet-stream",
        headers=h,
    )
    assert put.status_code == 204
    return image_id


def test_rebuild_from_another_image_keeps_the_server_and_its_port(stack: Stack) -> None:
    neutron = Neutron(stack, "alice")
    net = neutron.network("net")
    neutron.subnet(net["id"])
    server_id = _server(stack, networks=[{"uuid": net["id"]}])
    (port,) = neutron.get("ports", device_id=server_id).json["ports"]
    other = _image(stack, b"R" * 4096)
    body = {"rebuild": {"imageRef": other, "name": "vm2", "metadata": {"k": "v"}}}
    r = _act(stack, server_id, body)
    assert r.status_code == 202, r.json
    assert r.json["server"]["status"] == "REBUILD" and "adminPass" not in r.json["server"]
    stack.finish(server_workflow_id(server_id, "rebuild"))
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=_h(stack)).json
    server = shown["server"]
    assert server["status"] == "ACTIVE" and server["OS-EXT-STS:task_state"] is None
    assert server["image"]["id"] == other and server["name"] == "vm2"
    assert server["metadata"] == {"k": "v"}
    (again,) = neutron.get("ports", device_id=server_id).json["ports"]
    assert again["id"] == port["id"] and again["status"] == "ACTIVE"
    disk = root_disk_ref(server_id)
    assert stack.store.parent(disk) is not None and other in str(stack.store.parent(disk))
    assert b"".join(stack.store.read(disk))[:4096] == b"R" * 4096
    domain = stack.hypervisor.domains[f"nimbus-{server_id}"]
    assert [n.mac for n in domain.spec.nics] == [port["mac_address"]]


def test_a_stopped_server_is_stopped_again(stack: Stack) -> None:
    server_id = _server(stack)
    assert _act(stack, server_id, {"os-stop": None}).status_code == 202
    stack.finish(server_workflow_id(server_id, "stop"))
    assert _act(stack, server_id, {"rebuild": {"imageRef": stack.image_id()}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "rebuild"))
    row = stack.server(server_id)
    assert row is not None and (row.status, row.task_state) == ("SHUTOFF", None)


def test_what_a_rebuild_refuses(stack: Stack) -> None:
    server_id = _server(stack)
    for body, status in [
        ({"rebuild": {}}, 400),
        ({"rebuild": {"imageRef": "no-such-image"}}, 400),
        ({"rebuild": {"imageRef": stack.image_id(), "user_data": "x"}}, 400),
        ({"rebuild": {"imageRef": stack.image_id(), "preserve_ephemeral": True}}, 400),
        ({"rebuild": {"imageRef": stack.image_id(), "metadata": {"": "x"}}}, 400),
        ({"rebuild": "x"}, 400),
    ]:
        assert _act(stack, server_id, body).status_code == status, body
    good = {"rebuild": {"imageRef": stack.image_id()}}
    assert _act(stack, server_id, good, user="rita").status_code == 403
    assert _act(stack, server_id, good, user="bob").status_code == 404
    assert _act(stack, server_id, {"lock": None}).status_code == 202
    assert _act(stack, server_id, good).status_code == 409
    assert _act(stack, server_id, {"unlock": None}).status_code == 202
    with stack.db.session() as s:
        row = s.get(Server, server_id)
        assert row is not None and row.status == "ACTIVE" and row.image_id == stack.image_id()
    with stack.db.session() as s:  # as while another rebuild runs
        row = s.get(Server, server_id)
        assert row is not None
        row.status, row.task_state = "REBUILD", "rebuilding"
    assert _act(stack, server_id, good).status_code == 409


def test_rebuild_sets_the_description_from_2_19(stack: Stack) -> None:
    server_id = _server(stack)
    url = f"/compute/v2.1/servers/{server_id}/action"
    body = {"rebuild": {"imageRef": stack.image_id(), "description": "rebuilt"}}

    def h(version: str) -> dict[str, str]:
        return {**_h(stack), "OpenStack-API-Version": f"compute {version}"}

    assert stack.client.post(url, json=body, headers=h("2.18")).status_code == 400
    server = stack.server(server_id)
    assert server is not None and server.status == "ACTIVE" and server.description is None
    done = stack.client.post(url, json=body, headers=h("2.19"))
    assert done.status_code == 202, done.json
    assert done.json["server"]["description"] == "rebuilt"
    stack.finish(server_workflow_id(server_id, "rebuild"))
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=h("2.19"))
    assert shown.json["server"]["description"] == "rebuilt"
