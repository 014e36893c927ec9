"""createImage: a server's disk becomes a new, independent image."""

from __future__ import annotations

from activities.storage.block import image_ref, root_disk_ref
from nimbus.errors import InvalidSpec
from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _server(stack: Stack, h: dict[str, str]) -> str:
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id()}}
    server_id = str(
        stack.client.post("/compute/v2.1/servers", json=body, headers=h).json["server"]["id"]
    )
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _create_image(stack: Stack, h: dict[str, str], server_id: str) -> str:
    r = stack.client.post(
        f"/compute/v2.1/servers/{server_id}/action",
        headers=h,
        json={"createImage": {"name": "from-vm", "metadata": {"k": "v"}}},
    )
    assert r.status_code == 202
    image_id = r.headers["Location"].rsplit("/", 1)[1]
    stack.finish(f"image-{image_id}-from-server")
    return image_id


def test_server_image_is_flattened_and_the_disk_snapshot_dropped(stack: Stack) -> None:
    h = {"X-Auth-Token": stack.token("alice")}
    server_id = _server(stack, h)
    image_id = _create_image(stack, h, server_id)
    image = stack.client.get(f"/image/v2/images/{image_id}", headers=h).json
    assert image["status"] == "active" and image["visibility"] == "private"
    assert image["instance_uuid"] == server_id and image["k"] == "v"
    assert stack.store.parent(image_ref(image_id).image()) is None
    assert not stack.store.exists(root_disk_ref(server_id).at(f"image-{image_id}"))
    assert stack.store.exists(image_ref(image_id))


def test_failed_server_image_leaves_nothing(stack: Stack) -> None:
    h = {"X-Auth-Token": stack.token("alice")}
    server_id = _server(stack, h)
    stack.store.fail("flatten", InvalidSpec("flatten refused"))
    image_id = _create_image(stack, h, server_id)
    assert stack.client.get(f"/image/v2/images/{image_id}", headers=h).status_code == 404
    assert not stack.store.exists(image_ref(image_id).image())
    assert not stack.store.exists(root_disk_ref(server_id).at(f"image-{image_id}"))


def test_create_image_needs_a_name(stack: Stack) -> None:
    h = {"X-Auth-Token": stack.token("alice")}
    server_id = _server(stack, h)
    r = stack.client.post(
        f"/compute/v2.1/servers/{server_id}/action", headers=h, json={"createImage": {}}
    )
    assert r.status_code == 400
