"""Boot from volume (block_device_mapping_v2), over the fake drivers."""

from __future__ import annotations

import time
from typing import Any

import pytest

from activities.storage.block import volume_ref
from nimbus.db import Server, Volume
from nimbus.errors import InvalidSpec
from tests.support.stack import Stack
from workflows.common import server_workflow_id


class Nova:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.h = {"X-Auth-Token": stack.token("alice")}
        self.project = stack.token_info(self.h["X-Auth-Token"])["project"]["id"]

    def boot(self, bdm: dict[str, Any], **over: Any) -> Any:
        body = {
            "server": {
                "name": "bfv",
                "flavorRef": "1",
                "imageRef": "",
                "block_device_mapping_v2": [{"boot_index": 0, **bdm}],
                **over,
            }
        }
        return self.stack.client.post("/compute/v2.1/servers", json=body, headers=self.h)

    def booted(self, bdm: dict[str, Any]) -> str:
        r = self.boot(bdm)
        assert r.status_code == 202, r.json
        server_id = str(r.json["server"]["id"])
        self.stack.finish(server_workflow_id(server_id, "boot"))
        return server_id

    def show(self, server_id: str) -> dict[str, Any]:
        r = self.stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=self.h)
        return dict(r.json["server"])

    def volume(self, volume_id: str) -> dict[str, Any]:
        url = f"/volume/v3/{self.project}/volumes/{volume_id}"
        return dict(self.stack.client.get(url, headers=self.h).json["volume"])

    def new_volume(self, **spec: Any) -> str:
        url = f"/volume/v3/{self.project}/volumes"
        r = self.stack.client.post(url, json={"volume": {"size": 1, **spec}}, headers=self.h)
        volume_id = str(r.json["volume"]["id"])
        self.wait_volume(volume_id, "available")
        return volume_id

    def wait_volume(self, volume_id: str, status: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (found := self.volume(volume_id))["status"] == status:
                return found
            time.sleep(0.05)
        raise AssertionError(f"volume {volume_id} never became {status}: {found}")

    def delete(self, server_id: str) -> None:
        url = f"/compute/v2.1/servers/{server_id}"
        assert self.stack.client.delete(url, headers=self.h).status_code == 204
        self.stack.finish(server_workflow_id(server_id, "delete"))

    def root_volume_id(self, server_id: str) -> str:
        row = self.stack.server(server_id)
        assert row is not None and row.root_volume is not None
        return str(row.root_volume["volume_id"])


@pytest.fixture
def nova(stack: Stack) -> Nova:
    return Nova(stack)


def _from_image(stack: Stack, **over: Any) -> dict[str, Any]:
    return {
        "source_type": "image",
        "destination_type": "volume",
        "uuid": stack.image_id(),
        "volume_size": 1,
        **over,
    }


def test_a_server_boots_from_a_new_volume_made_of_the_image(nova: Nova) -> None:
    server_id = nova.booted(_from_image(nova.stack, delete_on_termination=True))
    shown = nova.show(server_id)
    assert shown["status"] == "ACTIVE" and shown["image"] == ""
    volume_id = nova.root_volume_id(server_id)
    assert shown["os-extended-volumes:volumes_attached"] == [{"id": volume_id}]
    volume = nova.volume(volume_id)
    assert volume["status"] == "in-use" and volume["bootable"] == "true"
    assert volume["attachments"][0]["device"] in ("vda", "/dev/vda")
    root = nova.stack.hypervisor.disks(f"nimbus-{server_id}")[0]
    assert (root.target, root.source) == ("vda", str(volume_ref(volume_id)))
    nova.delete(server_id)
    assert not nova.stack.store.exists(volume_ref(volume_id))
    with nova.stack.db.session() as s:
        assert s.get(Volume, volume_id).deleted_at is not None  # type: ignore[union-attr]


def test_an_existing_volume_boots_and_outlives_its_server(nova: Nova) -> None:
    volume_id = nova.new_volume(imageRef=nova.stack.image_id())
    server_id = nova.booted(
        {"source_type": "volume", "destination_type": "volume", "uuid": volume_id}
    )
    assert nova.volume(volume_id)["status"] == "in-use"
    detach = f"/compute/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}"
    assert nova.stack.client.delete(detach, headers=nova.h).status_code == 400
    nova.delete(server_id)
    assert nova.wait_volume(volume_id, "available")["attachments"] == []
    assert nova.stack.store.exists(volume_ref(volume_id))


def test_a_failed_boot_keeps_a_volume_not_marked_for_deletion(nova: Nova) -> None:
    nova.stack.hypervisor.fail("define_and_start", InvalidSpec("bad domain spec"))
    r = nova.boot(_from_image(nova.stack))
    server_id = r.json["server"]["id"]
    nova.stack.finish(server_workflow_id(server_id, "boot"))
    nova.stack.hypervisor.faults.clear()
    assert nova.show(server_id)["status"] == "ERROR"
    volume = nova.wait_volume(nova.root_volume_id(server_id), "available")
    assert volume["attachments"] == []


def test_a_failed_boot_deletes_a_volume_marked_for_deletion(nova: Nova) -> None:
    nova.stack.hypervisor.fail("define_and_start", InvalidSpec("bad domain spec"))
    r = nova.boot(_from_image(nova.stack, delete_on_termination=True))
    server_id = r.json["server"]["id"]
    nova.stack.finish(server_workflow_id(server_id, "boot"))
    nova.stack.hypervisor.faults.clear()
    volume_id = nova.root_volume_id(server_id)
    assert not nova.stack.store.exists(volume_ref(volume_id))


def _counts(stack: Stack) -> tuple[int, int]:
    with stack.db.session() as s:
        live = s.query(Volume).filter(Volume.deleted_at.is_(None))
        return s.query(Server).count(), live.count()


def test_bad_mappings_are_400_and_change_nothing(nova: Nova) -> None:
    in_use = nova.new_volume()
    nova.booted({"source_type": "volume", "destination_type": "volume", "uuid": in_use})
    before = _counts(nova.stack)
    image = nova.stack.image_id()
    bad: list[dict[str, Any]] = [
        {"source_type": "volume", "destination_type": "volume", "uuid": in_use},
        {"source_type": "volume", "destination_type": "volume", "uuid": "nope"},
        {"source_type": "blank", "destination_type": "volume", "volume_size": 1},
        {"source_type": "image", "destination_type": "volume", "uuid": image, "volume_size": 0},
        {"source_type": "image", "destination_type": "volume", "uuid": image,
         "volume_size": 2**31},
        {"source_type": "image", "destination_type": "volume", "uuid": "missing-image"},
        {"source_type": "image", "destination_type": "volume", "uuid": image,
         "delete_on_termination": "maybe"},
    ]  # fmt: skip
    for bdm in bad:
        r = nova.boot(bdm)
        assert r.status_code == 400, (bdm, r.json)
    extra = nova.boot(
        _from_image(nova.stack),
        block_device_mapping_v2=[
            {"boot_index": 0, **_from_image(nova.stack)},
            {"boot_index": -1, "source_type": "volume", "uuid": in_use},
        ],
    )
    assert extra.status_code == 400
    again = nova.new_volume()
    many = nova.boot(
        {"source_type": "volume", "destination_type": "volume", "uuid": again}, max_count=2
    )
    assert many.status_code == 400 and nova.volume(again)["status"] == "available"
    assert _counts(nova.stack) == (before[0], before[1] + 1)


def test_a_volume_backed_server_is_rebuilt_and_resized_on_its_volume(nova: Nova) -> None:
    """As Nova before 2.93: a rebuild with the volume's own image keeps the volume's data
    (a different image is refused); a resize changes vCPUs and memory, never the volume;
    a revert brings the old flavor back on the same volume."""
    stack = nova.stack
    booted = nova.boot(_from_image(stack), flavorRef="2")
    assert booted.status_code == 202, booted.json
    server_id = str(booted.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    volume_id = nova.root_volume_id(server_id)
    stack.store.write(volume_ref(volume_id), 0, b"the user's data")
    url = f"/compute/v2.1/servers/{server_id}/action"

    def act(body: dict[str, Any]) -> Any:
        return stack.client.post(url, json=body, headers=nova.h)

    other = stack.client.post(
        "/image/v2/images",
        json={"name": "other", "disk_format": "raw", "container_format": "bare"},
        headers=nova.h,
    ).json["id"]
    refused = act({"rebuild": {"imageRef": other}})
    assert refused.status_code == 400 and "different image" in str(refused.json)
    rebuilt = act({"rebuild": {"imageRef": stack.image_id(), "name": "again"}})
    assert rebuilt.status_code == 202, rebuilt.json
    stack.finish(server_workflow_id(server_id, "rebuild"))
    shown = nova.show(server_id)
    assert (shown["status"], shown["name"], shown["image"]) == ("ACTIVE", "again", "")

    def root_and_data() -> tuple[str, bytes]:
        root = stack.hypervisor.disks(f"nimbus-{server_id}")[0]
        return root.source, b"".join(stack.store.read(volume_ref(volume_id)))[:15]

    assert root_and_data() == (str(volume_ref(volume_id)), b"the user's data")

    def memory() -> int:
        return stack.hypervisor.domains[f"nimbus-{server_id}"].spec.memory_mib

    # m1.tiny's disk is smaller than m1.small's: that counts for no volume-backed server.
    assert act({"resize": {"flavorRef": "1"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    shown = nova.show(server_id)
    assert shown["status"] == "VERIFY_RESIZE" and shown["flavor"]["id"] == "1"
    assert memory() == 512
    assert root_and_data() == (str(volume_ref(volume_id)), b"the user's data")
    assert act({"revertResize": None}).status_code == 202
    stack.finish(server_workflow_id(server_id, "revert-resize"))
    shown = nova.show(server_id)
    assert shown["status"] == "ACTIVE" and shown["flavor"]["id"] == "2" and memory() == 2048
    assert root_and_data() == (str(volume_ref(volume_id)), b"the user's data")
    assert act({"resize": {"flavorRef": "1"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "resize"))
    assert act({"confirmResize": None}).status_code == 204
    stack.finish(server_workflow_id(server_id, "confirm-resize"))
    shown = nova.show(server_id)
    assert shown["status"] == "ACTIVE" and shown["flavor"]["id"] == "1" and memory() == 512
    assert nova.volume(volume_id)["status"] == "in-use"
