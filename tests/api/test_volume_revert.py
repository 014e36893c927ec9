"""3.40: revert a volume to its latest snapshot (RBD rollback in a workflow)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from activities.storage.block import volume_ref
from nimbus.errors import InvalidSpec
from tests.support.cinder import Cinder
from tests.support.stack import Stack


@pytest.fixture
def cinder(stack: Stack) -> Cinder:
    return Cinder(stack, version="3.40")


def _content(stack: Stack, volume_id: str) -> bytes:
    return b"".join(stack.store.read(volume_ref(volume_id)))


def _revert(cinder: Cinder, volume_id: str, snapshot_id: Any) -> Any:
    return cinder.post(f"volumes/{volume_id}/action", {"revert": {"snapshot_id": snapshot_id}})


def _snapshot_status(cinder: Cinder, snapshot_id: str) -> str:
    return str(cinder.get(f"snapshots/{snapshot_id}").json["snapshot"]["status"])


def test_revert_puts_back_the_snapshots_data(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    stack.store.write(volume_ref(volume_id), 0, b"before")
    snap_id = cinder.snapshot(volume_id)
    before = _content(stack, volume_id)
    stack.store.write(volume_ref(volume_id), 0, b"AFTER!")
    assert _content(stack, volume_id) != before
    assert _revert(cinder, volume_id, snap_id).status_code == 202
    cinder.wait(volume_id, "available")
    assert _content(stack, volume_id) == before
    assert _snapshot_status(cinder, snap_id) == "available"


def test_a_failed_revert_leaves_the_volume_in_error(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    snap_id = cinder.snapshot(volume_id)
    stack.store.fail("rollback", InvalidSpec("rollback refused"))
    assert _revert(cinder, volume_id, snap_id).status_code == 202
    assert cinder.wait(volume_id, "error")["status"] == "error"
    deadline = time.monotonic() + 20
    while _snapshot_status(cinder, snap_id) != "available":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_only_the_latest_snapshot_of_the_same_size(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    assert _revert(cinder, volume_id, "nope").status_code == 400  # no snapshots
    older = cinder.snapshot(volume_id, "older")
    newer = cinder.snapshot(volume_id, "newer")
    assert _revert(cinder, volume_id, older).status_code == 400
    assert _revert(cinder, volume_id, None).status_code == 400
    extend = cinder.post(f"volumes/{volume_id}/action", {"os-extend": {"new_size": 2}})
    assert extend.status_code == 202
    deadline = time.monotonic() + 20
    while cinder.show(volume_id).json["volume"]["size"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cinder.wait(volume_id, "available")
    assert _revert(cinder, volume_id, newer).status_code == 400  # sizes differ
    assert cinder.show(volume_id).json["volume"]["status"] == "available"
    assert _snapshot_status(cinder, newer) == "available"


def test_revert_refused_to_others_readers_and_older_versions(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    snap_id = cinder.snapshot(volume_id)
    assert _revert(Cinder(stack, version="3.39"), volume_id, snap_id).status_code == 400
    assert _revert(Cinder(stack, "bob", version="3.40"), volume_id, snap_id).status_code == 404
    assert _revert(Cinder(stack, "rita", version="3.40"), volume_id, snap_id).status_code == 403
    assert _revert(cinder, "nope", snap_id).status_code == 404
    assert cinder.show(volume_id).json["volume"]["status"] == "available"
    assert _snapshot_status(cinder, snap_id) == "available"


def test_an_attached_volume_is_not_reverted(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    snap_id = cinder.snapshot(volume_id)
    assert cinder.attach(cinder.server(), volume_id).status_code == 200
    assert _revert(cinder, volume_id, snap_id).status_code == 409
    assert cinder.show(volume_id).json["volume"]["status"] == "in-use"
    assert _snapshot_status(cinder, snap_id) == "available"
