"""Volume transfers: offer, accept with the auth key in another project, or withdraw."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cinder import Cinder
from tests.support.stack import Stack

PATH = "volume-transfers"


@pytest.fixture
def cinder(stack: Stack) -> Cinder:
    return Cinder(stack, version="3.59")


def _offer(cinder: Cinder, volume_id: str, **extra: Any) -> Any:
    r = cinder.post(PATH, {"transfer": {"volume_id": volume_id, "name": "t", **extra}})
    assert r.status_code == 202, r.json
    return r.json["transfer"]


def test_accepted_transfer_moves_the_volume_and_its_snapshots(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    snap_id = cinder.snapshot(volume_id)
    offer = _offer(cinder, volume_id)
    assert offer["auth_key"] and offer["accepted"] is False and offer["no_snapshots"] is False
    assert cinder.show(volume_id).json["volume"]["status"] == "awaiting-transfer"
    bob = Cinder(stack, "bob", version="3.59")
    accept = {"accept": {"auth_key": offer["auth_key"]}}
    taken = bob.post(f"{PATH}/{offer['id']}/accept", accept)
    assert taken.status_code == 202 and taken.json["transfer"]["volume_id"] == volume_id
    mine = bob.show(volume_id).json["volume"]
    assert mine["status"] == "available" and mine["os-vol-tenant-attr:tenant_id"] in bob.base
    assert bob.get(f"snapshots/{snap_id}").status_code == 200
    assert cinder.show(volume_id).status_code == 404
    assert cinder.get(PATH).json["transfers"] == []
    again = bob.post(f"{PATH}/{offer['id']}/accept", accept)
    assert again.status_code == 404


def test_no_snapshots_leaves_them_behind(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    snap_id = cinder.snapshot(volume_id)
    offer = _offer(cinder, volume_id, no_snapshots=True)
    bob = Cinder(stack, "bob", version="3.59")
    accept = {"accept": {"auth_key": offer["auth_key"]}}
    assert bob.post(f"{PATH}/{offer['id']}/accept", accept).status_code == 202
    assert cinder.get(f"snapshots/{snap_id}").status_code == 200


def test_withdrawn_offer_frees_the_volume(cinder: Cinder) -> None:
    volume_id = cinder.available()
    offer = _offer(cinder, volume_id)
    listed = cinder.get(f"{PATH}/detail").json["transfers"]
    assert [t["id"] for t in listed] == [offer["id"]] and "auth_key" not in listed[0]
    assert listed[0]["source_project_id"] in cinder.base
    assert cinder.delete(f"{PATH}/{offer['id']}").status_code == 202
    assert cinder.show(volume_id).json["volume"]["status"] == "available"
    assert cinder.get(f"{PATH}/{offer['id']}").status_code == 404


def test_transfer_lists_page_from_3_59(stack: Stack, cinder: Cinder) -> None:
    first, second = _offer(cinder, cinder.available()), _offer(cinder, cinder.available())
    newest = cinder.get(PATH, limit=1).json["transfers"]
    assert [t["id"] for t in newest] == [second["id"]]
    rest = cinder.get(PATH, marker=second["id"]).json["transfers"]
    assert [t["id"] for t in rest] == [first["id"]]
    old = Cinder(stack, version="3.58").get("os-volume-transfer", limit=1).json["transfers"]
    assert [t["id"] for t in old] == [first["id"], second["id"]]  # oldest first, unpaged


def test_bad_transfer_requests_change_nothing(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    offer = _offer(cinder, volume_id)
    bob = Cinder(stack, "bob", version="3.59")
    wrong = bob.post(f"{PATH}/{offer['id']}/accept", {"accept": {"auth_key": "wrong"}})
    assert wrong.status_code == 400
    assert bob.post(f"{PATH}/{offer['id']}/accept", {"accept": {}}).status_code == 400
    assert bob.get(f"{PATH}/{offer['id']}").status_code == 404
    assert bob.delete(f"{PATH}/{offer['id']}").status_code == 404
    assert bob.post(PATH, {"transfer": {"volume_id": volume_id}}).status_code == 404
    rita = Cinder(stack, "rita", version="3.59")
    assert rita.delete(f"{PATH}/{offer['id']}").status_code == 403
    assert cinder.post(PATH, {"transfer": {"volume_id": volume_id}}).status_code == 400  # busy
    assert cinder.post(PATH, {"transfer": {}}).status_code == 400
    assert cinder.show(volume_id).json["volume"]["status"] == "awaiting-transfer"
    assert cinder.delete(f"volumes/{volume_id}").status_code == 409
    assert [t["id"] for t in cinder.get(PATH).json["transfers"]] == [offer["id"]]


def test_accept_within_the_acceptors_quota(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    offer = _offer(cinder, volume_id)
    admin = Cinder(stack, "admin")
    bob = Cinder(stack, "bob", version="3.59")
    bob_project = bob.base.rsplit("/", 1)[-1]
    quota = {"quota_set": {"volumes": 0}}
    url = f"{admin.base}/os-quota-sets/{bob_project}"
    assert stack.client.put(url, json=quota, headers=admin.h).status_code == 200
    accept = {"accept": {"auth_key": offer["auth_key"]}}
    assert bob.post(f"{PATH}/{offer['id']}/accept", accept).status_code == 413  # Cinder
    assert cinder.show(volume_id).json["volume"]["status"] == "awaiting-transfer"
