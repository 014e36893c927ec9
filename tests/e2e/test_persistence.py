"""Ceph's data (images, volumes, objects) survives ``nimbus down`` then ``nimbus up``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.services.libvirtd import LibvirtdHandle
from launcher.services.rgw import gateway_pid
from tests.support.cloud import Cloud, start_cloud, stop_cloud, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.long]


@pytest.fixture
def own_cloud(
    tmp_path_factory: pytest.TempPathFactory,
    guest_image: Path,
    runtime_image: Path,
    postgresql_image: Path,
    libvirtd: LibvirtdHandle,
) -> Iterator[Cloud]:
    """A cloud of this test's own: it is stopped and started again."""
    c = start_cloud(
        tmp_path_factory.mktemp("persist"), guest_image, runtime_image, postgresql_image
    )
    try:
        yield c
    finally:
        stop_cloud(c)


def test_images_volumes_and_objects_survive_down_and_up(own_cloud: Cloud, tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    (tmp_path / "d.raw").write_bytes(data)
    image = own_cloud.openstack_json(
        "image",
        "create",
        "--file",
        str(tmp_path / "d.raw"),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "keep",
    )
    own_cloud.openstack_json("volume", "create", "--size", "1", "--image", "keep", "kept")
    wait_for(
        lambda: own_cloud.openstack_json("volume", "show", "kept")["status"] == "available",
        60,
        "volume available",
    )

    assert own_cloud.openstack("container", "create", "box").returncode == 0
    stored = own_cloud.openstack("object", "create", "--name", "d", "box", str(tmp_path / "d.raw"))
    assert stored.returncode == 0, stored.stderr

    assert own_cloud.nimbus("down").returncode == 0
    assert own_cloud.nimbus("status").returncode != 0
    assert gateway_pid(own_cloud.settings.run_dir) is None
    up = own_cloud.nimbus("up")
    assert up.returncode == 0, up.stderr

    assert own_cloud.openstack_json("image", "show", "keep")["status"] == "active"
    saved = tmp_path / "saved.raw"
    assert own_cloud.openstack("image", "save", "--file", str(saved), "keep").returncode == 0
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    volume = own_cloud.openstack_json("volume", "show", "kept")
    assert volume["status"] == "available"
    assert f"volume-{volume['id']}" in own_cloud.rbd_names("volumes")
    assert image["id"] in own_cloud.rbd_names("images")
    kept = tmp_path / "kept.raw"
    got = own_cloud.openstack("object", "save", "--file", str(kept), "box", "d")
    assert got.returncode == 0, got.stderr
    assert kept.read_bytes() == data
