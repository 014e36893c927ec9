"""Images in Ceph with the unmodified openstack CLI: upload, boot from a clone, refuse
deleting an image in use."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.storage.block import image_ref, root_disk_ref
from tests.support.cloud import Cloud

pytestmark = pytest.mark.e2e


def test_uploaded_image_boots_as_a_copy_on_write_clone(cloud: Cloud, guest_image: Path) -> None:
    created = cloud.openstack_json(
        "image",
        "create",
        "--file",
        str(guest_image),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "img",
    )
    assert created["status"] == "active"
    image_id = created["id"]
    server = cloud.openstack_json(
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "img",
        "--no-network",
        "--wait",
        "vm-img",
    )
    assert server["status"] == "ACTIVE"
    store = cloud.block_store()
    assert store.parent(root_disk_ref(server["id"])) == image_ref(image_id)

    snapshot = cloud.openstack_json(
        "server", "image", "create", "--name", "vm-img-snap", "--wait", "vm-img"
    )
    assert cloud.openstack_json("image", "show", snapshot["id"])["status"] == "active"
    assert store.parent(image_ref(snapshot["id"]).image()) is None
    assert cloud.openstack("image", "delete", snapshot["id"]).returncode == 0

    refused = cloud.openstack("image", "delete", "img")
    assert refused.returncode != 0 and "in use" in refused.stderr
    assert cloud.openstack_json("image", "show", "img")["status"] == "active"

    assert cloud.openstack("server", "delete", "--wait", "vm-img").returncode == 0
    assert not store.exists(root_disk_ref(server["id"]))
    assert cloud.openstack("image", "delete", "img").returncode == 0
    assert not store.exists(image_ref(image_id).image())
