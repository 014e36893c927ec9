"""One contract suite for every DiskDriver: the in-memory fake and qcow2 overlays."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from activities.storage.base import DiskDriver
from activities.storage.fake import FakeDiskDriver
from activities.storage.qcow2 import QcowDiskDriver
from nimbus.errors import BackendUnavailable, Conflict, NotFound


@pytest.fixture(params=["fake", "qcow2"])
def disks(request: pytest.FixtureRequest, tmp_path: Path) -> DiskDriver:
    if request.param == "fake":
        return FakeDiskDriver(tmp_path / "disks")
    return QcowDiskDriver(tmp_path / "disks")


def make_image(path: Path, size: int = 1 << 20) -> str:
    with path.open("wb") as image:
        image.truncate(size)
    return str(path)


def test_create_overlay_returns_the_disk_path(disks: DiskDriver, tmp_path: Path):
    path = disks.create_overlay("d1", make_image(tmp_path / "img"), 1)
    assert path == disks.path("d1") and disks.exists("d1")


def test_create_overlay_twice_returns_the_same_disk(disks: DiskDriver, tmp_path: Path):
    image = make_image(tmp_path / "img")
    assert disks.create_overlay("d1", image, 1) == disks.create_overlay("d1", image, 1)


def test_same_disk_over_another_image_conflicts(disks: DiskDriver, tmp_path: Path):
    disks.create_overlay("d1", make_image(tmp_path / "a"), 1)
    with pytest.raises(Conflict):
        disks.create_overlay("d1", make_image(tmp_path / "b"), 1)


def test_missing_image_is_not_found(disks: DiskDriver, tmp_path: Path):
    with pytest.raises(NotFound):
        disks.create_overlay("d1", str(tmp_path / "nope"), 1)
    assert not disks.exists("d1")


def test_delete_removes_the_disk_and_is_idempotent(disks: DiskDriver, tmp_path: Path):
    disks.create_overlay("d1", make_image(tmp_path / "img"), 1)
    disks.delete("d1")
    disks.delete("d1")
    assert not disks.exists("d1")
    assert not Path(disks.path("d1")).parent.exists()


def qemu_info(path: str) -> dict:
    return json.loads(subprocess.check_output(["qemu-img", "info", "--output=json", path]))


def test_qcow2_overlay_is_backed_by_the_image_with_the_larger_size(tmp_path: Path):
    image = make_image(tmp_path / "img", 3 << 30)
    info = qemu_info(QcowDiskDriver(tmp_path / "disks").create_overlay("d1", image, 2))
    assert info["format"] == "qcow2" and info["backing-filename"] == image
    assert info["backing-filename-format"] == "raw" and info["virtual-size"] == 3 << 30


def test_qcow2_overlay_grows_to_the_requested_size(tmp_path: Path):
    disk = QcowDiskDriver(tmp_path / "disks").create_overlay("d", make_image(tmp_path / "i"), 2)
    assert qemu_info(disk)["virtual-size"] == 2 << 30


def test_fake_injected_failure_happens_once_before_anything(tmp_path: Path):
    disks = FakeDiskDriver()
    disks.fail("create_overlay", BackendUnavailable("disk full"))
    with pytest.raises(BackendUnavailable):
        disks.create_overlay("d1", make_image(tmp_path / "img"), 1)
    assert not disks.exists("d1")
    disks.create_overlay("d1", make_image(tmp_path / "img"), 1)
    assert disks.exists("d1")
