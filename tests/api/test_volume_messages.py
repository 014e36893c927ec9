"""Cinder's user messages (3.3, paging 3.5): a failed operation leaves one."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from activities.volume_records import VolumeRecords, VolumeStatusInput
from nimbus.db import Volume
from nimbus.db_volume import VolumeMessage
from nimbus.errors import InvalidSpec
from tests.support.cinder import Cinder
from tests.support.stack import Stack


@pytest.fixture
def cinder(stack: Stack) -> Cinder:
    return Cinder(stack, version="3.59")


def _failed_volume(cinder: Cinder) -> str:
    cinder.stack.store.fail("create", InvalidSpec("no space left"))
    r = cinder.create(size=1, name="doomed")
    assert r.status_code == 202
    volume_id = str(r.json["volume"]["id"])
    cinder.wait(volume_id, "error")
    return volume_id


def test_nothing_failed_no_messages(cinder: Cinder) -> None:
    cinder.available()
    assert cinder.get("messages").json == {"messages": []}


def test_a_failed_create_leaves_one_message(cinder: Cinder) -> None:
    volume_id = _failed_volume(cinder)
    (message,) = cinder.get("messages").json["messages"]
    assert message["resource_uuid"] == volume_id and message["resource_type"] == "VOLUME"
    assert message["event_id"] == "VOLUME_VOLUME_008_012"
    assert message["user_message"].startswith("create volume from backend storage:")
    assert message["request_id"] == f"volume-{volume_id}-create"
    shown = cinder.get(f"messages/{message['id']}").json["message"]
    assert shown == message and shown["guaranteed_until"] > shown["created_at"]


def test_a_failed_extend_and_snapshot_leave_messages(cinder: Cinder) -> None:
    volume_id = cinder.available()
    cinder.stack.store.fail("resize", InvalidSpec("resize refused"))
    r = cinder.post(f"volumes/{volume_id}/action", {"os-extend": {"new_size": 2}})
    assert r.status_code == 202
    deadline = time.monotonic() + 20
    while not cinder.get("messages").json["messages"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cinder.stack.store.fail("snapshot", InvalidSpec("snapshot refused"))
    r = cinder.post("snapshots", {"snapshot": {"volume_id": volume_id}})
    snap_id = r.json["snapshot"]["id"]
    while len(cinder.get("messages").json["messages"]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    events = {m["resource_uuid"]: m["event_id"] for m in cinder.get("messages").json["messages"]}
    assert events == {volume_id: "VOLUME_VOLUME_007_010", snap_id: "VOLUME_VOLUME_SNAPSHOT_009_013"}


def test_the_status_activity_run_twice_writes_one_message(stack: Stack) -> None:
    with stack.db.session() as s:
        s.add(Volume(id="v1", project_id="p", user_id="u", size=1, status="creating"))
    records = VolumeRecords(stack.db)
    for _ in range(2):
        records.set_volume_status(VolumeStatusInput("v1", "error", "boom"))
    with stack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(VolumeMessage)) == 1


def test_a_fault_of_any_length_is_kept(stack: Stack) -> None:
    with stack.db.session() as s:
        s.add(Volume(id="v1", project_id="p", user_id="u", size=1, status="creating"))
    VolumeRecords(stack.db).set_volume_status(VolumeStatusInput("v1", "error", "x" * 5000))
    with stack.db.session() as s:
        assert s.get_one(Volume, "v1").fault == "x" * 5000


def test_messages_page_filter_and_delete(stack: Stack, cinder: Cinder) -> None:
    first, second = _failed_volume(cinder), _failed_volume(cinder)
    newest = cinder.get("messages", limit=1).json["messages"]
    assert [m["resource_uuid"] for m in newest] == [second]
    rest = cinder.get("messages", marker=newest[0]["id"]).json["messages"]
    assert [m["resource_uuid"] for m in rest] == [first]
    assert cinder.get("messages", resource_uuid=first).json["messages"] == rest
    assert cinder.get("messages", with_count="true").json["count"] == 2
    old = Cinder(stack, version="3.3").get("messages", limit=1).json["messages"]
    assert len(old) == 2  # no paging before 3.5
    assert cinder.delete(f"messages/{rest[0]['id']}").status_code == 204
    assert cinder.get(f"messages/{rest[0]['id']}").status_code == 404


def test_bad_message_requests_change_nothing(stack: Stack, cinder: Cinder) -> None:
    _failed_volume(cinder)
    (message,) = cinder.get("messages").json["messages"]
    assert Cinder(stack, version="3.2").get("messages").status_code == 404
    bob = Cinder(stack, "bob", version="3.59")
    assert bob.get(f"messages/{message['id']}").status_code == 404
    assert bob.delete(f"messages/{message['id']}").status_code == 404
    assert bob.get("messages").json["messages"] == []
    reader = Cinder(stack, "rita", version="3.59")
    assert reader.get(f"messages/{message['id']}").status_code == 200
    assert reader.delete(f"messages/{message['id']}").status_code == 403
    assert cinder.get("messages", marker="nope").status_code == 400
    assert cinder.delete("messages/nope").status_code == 404
    assert len(cinder.get("messages").json["messages"]) == 1
