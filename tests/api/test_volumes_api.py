"""Cinder v3 shape and Nova's os-volume_attachments, over the fake drivers."""

from __future__ import annotations

import time
from typing import Any

import pytest

from activities.storage.block import volume_ref
from nimbus.errors import Conflict
from tests.support.cinder import Cinder
from tests.support.stack import Stack
from workflows.common import server_workflow_id


@pytest.fixture
def cinder(stack: Stack) -> Cinder:
    return Cinder(stack)


def test_blank_volume_becomes_available_with_its_data(cinder: Cinder) -> None:
    r = cinder.create(size=1, name="v", description=None, volume_type=None, imageRef=None)
    assert r.status_code == 202 and r.json["volume"]["status"] == "creating"
    volume = cinder.wait(r.json["volume"]["id"], "available")
    assert volume["size"] == 1 and volume["attachments"] == []
    assert cinder.stack.store.size(volume_ref(volume["id"])) == 1 << 30


def test_volume_from_image_is_a_clone_of_the_image(cinder: Cinder) -> None:
    image_id = cinder.stack.image_id()
    volume_id = cinder.create(size=1, imageRef=image_id).json["volume"]["id"]
    volume = cinder.wait(volume_id, "available")
    assert volume["bootable"] == "true"
    parent = cinder.stack.store.parent(volume_ref(volume_id))
    assert parent is not None and parent.name == image_id


def test_volume_from_snapshot(cinder: Cinder) -> None:
    source = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(source, "available")
    snap = cinder.stack.client.post(
        f"{cinder.base}/snapshots",
        headers=cinder.h,
        json={"snapshot": {"volume_id": source, "name": "s"}},
    )
    assert snap.status_code == 202
    snap_id = snap.json["snapshot"]["id"]
    deadline = time.monotonic() + 20
    while (
        cinder.stack.client.get(f"{cinder.base}/snapshots/{snap_id}", headers=cinder.h).json[
            "snapshot"
        ]["status"]
        != "available"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    clone = cinder.create(snapshot_id=snap_id).json["volume"]
    assert cinder.wait(clone["id"], "available")["size"] == 1
    refused = cinder.stack.client.delete(f"{cinder.base}/volumes/{source}", headers=cinder.h)
    assert (
        refused.status_code == 409 and "snapshots" in refused.json["conflictingRequest"]["message"]
    )
    snap_url = f"{cinder.base}/snapshots/{snap_id}"
    assert cinder.stack.client.delete(snap_url, headers=cinder.h).status_code == 409  # a clone
    url = f"{cinder.base}/volumes/{clone['id']}"
    assert cinder.stack.client.delete(url, headers=cinder.h).status_code == 202
    deadline = time.monotonic() + 20
    while cinder.stack.client.get(url, headers=cinder.h).status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cinder.stack.client.delete(snap_url, headers=cinder.h).status_code == 202
    assert cinder.stack.client.get(snap_url, headers=cinder.h).status_code == 404


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({"size": 0}, 400),
        ({"size": -1}, 400),
        ({"size": "lots"}, 400),
        ({"size": 1, "volume_type": "gold"}, 404),
        ({"size": 1, "imageRef": "nope"}, 404),
        ({"size": 1, "multiattach": True}, 400),
        ({"size": 1, "name": "x" * 256}, 400),
    ],
)
def test_bad_volume_requests_are_refused_and_create_nothing(
    cinder: Cinder, spec: dict[str, Any], status: int
) -> None:
    r = cinder.create(**spec)
    assert r.status_code == status
    listed = cinder.stack.client.get(f"{cinder.base}/volumes/detail", headers=cinder.h)
    assert listed.json["volumes"] == []


def test_extend_grows_the_data(cinder: Cinder) -> None:
    volume_id = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(volume_id, "available")
    url = f"{cinder.base}/volumes/{volume_id}/action"
    assert (
        cinder.stack.client.post(
            url, json={"os-extend": {"new_size": 1}}, headers=cinder.h
        ).status_code
        == 400
    )
    assert (
        cinder.stack.client.post(
            url, json={"os-extend": {"new_size": 2}}, headers=cinder.h
        ).status_code
        == 202
    )
    deadline = time.monotonic() + 20
    while cinder.show(volume_id).json["volume"]["size"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cinder.stack.store.size(volume_ref(volume_id)) == 2 << 30


def test_attach_detach_and_the_rules_around_them(cinder: Cinder) -> None:
    server_id, other = cinder.server(), cinder.server()
    volume_id = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(volume_id, "available")
    attached = cinder.attach(server_id, volume_id)
    assert attached.status_code == 200
    assert attached.json["volumeAttachment"]["device"] == "/dev/vdb"
    volume = cinder.show(volume_id).json["volume"]
    assert volume["status"] == "in-use" and volume["attachments"][0]["server_id"] == server_id
    disks = cinder.stack.hypervisor.disks(f"nimbus-{server_id}")
    assert any(d.target == "vdb" and d.source == str(volume_ref(volume_id)) for d in disks)

    assert cinder.attach(other, volume_id).status_code == 409
    url = f"{cinder.base}/volumes/{volume_id}"
    assert cinder.stack.client.delete(url, headers=cinder.h).status_code == 409

    detach = f"/compute/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}"
    assert cinder.stack.client.delete(detach, headers=cinder.h).status_code == 202
    cinder.wait(volume_id, "available")
    disks = cinder.stack.hypervisor.disks(f"nimbus-{server_id}")
    assert not any(d.target == "vdb" for d in disks)
    assert cinder.attach(other, volume_id).status_code == 200


def test_failed_hot_plug_leaves_the_volume_available(cinder: Cinder) -> None:
    server_id = cinder.server()
    volume_id = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(volume_id, "available")
    # A refusal, not a retryable error: the workflow must undo at once, not after retries.
    cinder.stack.hypervisor.fail("attach_disk", Conflict("qemu refused the device"))
    r = cinder.attach(server_id, volume_id)
    assert r.status_code >= 400
    cinder.stack.hypervisor.faults.clear()
    volume = cinder.wait(volume_id, "available")
    assert volume["attachments"] == []
    assert not any(d.target == "vdb" for d in cinder.stack.hypervisor.disks(f"nimbus-{server_id}"))


def test_deleting_a_server_frees_its_volumes(cinder: Cinder) -> None:
    server_id = cinder.server()
    volume_id = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(volume_id, "available")
    cinder.attach(server_id, volume_id)
    cinder.stack.client.delete(f"/compute/v2.1/servers/{server_id}", headers=cinder.h)
    cinder.stack.finish(server_workflow_id(server_id, "delete"))
    assert cinder.wait(volume_id, "available")["attachments"] == []


def test_delete_removes_the_data(cinder: Cinder) -> None:
    volume_id = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(volume_id, "available")
    url = f"{cinder.base}/volumes/{volume_id}"
    assert cinder.stack.client.delete(url, headers=cinder.h).status_code == 202
    deadline = time.monotonic() + 20
    while cinder.show(volume_id).status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not cinder.stack.store.exists(volume_ref(volume_id))


def test_other_projects_volume_is_404(cinder: Cinder) -> None:
    volume_id = cinder.create(size=1).json["volume"]["id"]
    bob = Cinder(cinder.stack, "bob")
    assert bob.show(volume_id).status_code == 404
    assert (
        cinder.stack.client.get(f"{cinder.base}/volumes/{volume_id}", headers=bob.h).status_code
        == 403
    )


def test_a_stopped_server_takes_a_volume_into_its_definition(cinder: Cinder) -> None:
    server_id = cinder.server()
    url = f"/compute/v2.1/servers/{server_id}/action"
    assert (
        cinder.stack.client.post(url, json={"os-stop": None}, headers=cinder.h).status_code == 202
    )
    cinder.stack.wait_server(server_id, lambda r: r is not None and r.status == "SHUTOFF")
    volume_id = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(volume_id, "available")
    r = cinder.attach(server_id, volume_id)
    assert r.status_code == 200, r.json
    assert cinder.wait(volume_id, "in-use")["attachments"][0]["server_id"] == server_id
    assert any(d.target == "vdb" for d in cinder.stack.hypervisor.disks(f"nimbus-{server_id}"))
    assert cinder.stack.server(server_id).status == "SHUTOFF"  # not started by the attach


def test_admin_only_attributes_only_for_admins(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.create(size=1).json["volume"]["id"]
    mine = cinder.wait(volume_id, "available")
    admin_only = {
        "os-vol-host-attr:host",
        "os-vol-mig-status-attr:migstat",
        "os-vol-mig-status-attr:name_id",
    }
    assert not admin_only & set(mine)
    assert mine["os-vol-tenant-attr:tenant_id"]  # the owner's attribute, for the owner too
    admin = Cinder(stack, "admin")
    url = f"/volume/v3/{admin.base.rsplit('/', 1)[-1]}/volumes/{volume_id}"
    seen = stack.client.get(url, headers=admin.h).json["volume"]
    assert admin_only <= set(seen) and seen["os-vol-host-attr:host"].endswith("@rbd#volumes")
    listed = stack.client.get(
        f"{admin.base}/volumes/detail", query_string={"all_tenants": "1"}, headers=admin.h
    ).json["volumes"]
    assert all(admin_only <= set(v) for v in listed) and listed


def test_snapshots_page_with_marker_and_limit(cinder: Cinder) -> None:
    source = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(source, "available")
    url = f"{cinder.base}/snapshots"
    for name in ("a", "b", "c"):
        body = {"snapshot": {"volume_id": source, "name": name}}
        assert cinder.stack.client.post(url, headers=cinder.h, json=body).status_code == 202
    every = [x["id"] for x in cinder.stack.client.get(url, headers=cinder.h).json["snapshots"]]
    assert len(every) == 3
    page = cinder.stack.client.get(url, query_string={"limit": 2}, headers=cinder.h).json
    assert [x["id"] for x in page["snapshots"]] == every[:2]
    rest = cinder.stack.client.get(url, query_string={"marker": every[1]}, headers=cinder.h)
    assert [x["id"] for x in rest.json["snapshots"]] == every[2:]
    bad = cinder.stack.client.get(url, query_string={"marker": "nope"}, headers=cinder.h)
    assert bad.status_code == 400


def test_attached_volumes_stay_through_rebuild_resize_and_revert(cinder: Cinder) -> None:
    """A rebuild or a resize defines the domain again: the attached volume is in the new
    definition, at the device its attachment records, each time."""
    server_id = cinder.server()
    volume_id = cinder.create(size=1).json["volume"]["id"]
    cinder.wait(volume_id, "available")
    assert cinder.attach(server_id, volume_id).status_code == 200
    url = f"/compute/v2.1/servers/{server_id}/action"

    def data_disks() -> list[tuple[str, str | None]]:
        disks = cinder.stack.hypervisor.disks(f"nimbus-{server_id}")
        return [(d.target, d.serial) for d in disks if d.target != "vda"]

    expected = [("vdb", volume_id[:20])]
    assert data_disks() == expected
    for body, operation in (
        ({"rebuild": {"imageRef": cinder.stack.image_id()}}, "rebuild"),
        ({"resize": {"flavorRef": "3"}}, "resize"),
        ({"revertResize": None}, "revert-resize"),
    ):
        r = cinder.stack.client.post(url, json=body, headers=cinder.h)
        assert r.status_code == 202, r.json
        cinder.stack.finish(server_workflow_id(server_id, operation))
        assert data_disks() == expected, operation
    assert cinder.show(volume_id).json["volume"]["status"] == "in-use"
