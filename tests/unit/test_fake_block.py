"""What only FakeBlockStore does: failure injection, and sparse images that cost nothing."""

from __future__ import annotations

import pytest

from activities.storage.block import IMAGES, VMS, RbdRef
from activities.storage.fake_block import FakeBlockStore
from nimbus.errors import BackendUnavailable

PARENT, CHILD = RbdRef(IMAGES, "img"), RbdRef(VMS, "srv_disk")


def test_injected_failure_raises_before_acting_then_clears():
    store = FakeBlockStore()
    store.fail("create", BackendUnavailable("ceph down"), times=2)
    for _ in range(2):
        with pytest.raises(BackendUnavailable):
            store.create(PARENT, 1024)
        assert not store.exists(PARENT)
    store.create(PARENT, 1024)
    assert store.size(PARENT) == 1024


def test_big_sparse_images_and_clones_store_only_what_was_written():
    store = FakeBlockStore()
    store.create(PARENT, 10 << 30)
    store.write(PARENT, 5 << 30, b"x" * 100)
    store.snapshot(PARENT.at("snap"))
    store.clone(PARENT.at("snap"), CHILD, 20 << 30)
    store.write(CHILD, 0, b"y")
    assert len(store.pools[IMAGES]["img"].head.chunks) == 1
    assert len(store.pools[VMS]["srv_disk"].head.chunks) == 1
