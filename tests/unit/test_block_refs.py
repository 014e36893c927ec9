from __future__ import annotations

import pytest

from activities.storage.block import RbdRef, image_ref, root_disk_ref, volume_ref


def test_refs_round_trip_through_text() -> None:
    for ref in (image_ref("i1"), root_disk_ref("s1"), volume_ref("v1")):
        assert RbdRef.parse(str(ref)) == ref


def test_names_follow_the_openstack_conventions() -> None:
    assert str(image_ref("i1")) == "images/i1@snap"
    assert str(root_disk_ref("s1")) == "vms/s1_disk"
    assert str(volume_ref("v1")) == "volumes/volume-v1"


def test_garbage_is_not_a_ref() -> None:
    with pytest.raises(ValueError):
        RbdRef.parse("no-pool")
