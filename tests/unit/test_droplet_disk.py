"""A droplet is the runtime disk with the app appended as an ext4 partition 3."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nimbus.errors import InvalidSpec
from paas.disk_layout import APP_LABEL, APP_MIN_MIB, MIB
from paas.droplet_disk import build_droplet_disk
from paas.runtime import is_valid

pytestmark = pytest.mark.skipif(
    shutil.which("mkfs.ext4") is None or shutil.which("sfdisk") is None,
    reason="needs the e2fsprogs and fdisk packages",
)


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    """A stand-in runtime: 3 MiB with two partitions, as the real one is laid out."""
    disk = tmp_path / "runtime.raw"
    disk.write_bytes(b"")
    os.truncate(disk, 3 * MIB)
    table = "label: dos\nstart=2048, size=2048, type=c, bootable\nstart=4096, size=2048\n"
    subprocess.run(["sfdisk", "-q", str(disk)], input=table.encode(), check=True)
    return disk


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text("print('hi')\n")
    return tmp_path / "app"


def partitions(disk: Path) -> list[dict]:
    out = subprocess.run(["sfdisk", "-J", str(disk)], capture_output=True, check=True).stdout
    return json.loads(out)["partitiontable"]["partitions"]


def test_the_app_becomes_partition_3_labelled_nimbus_app(runtime, app, tmp_path):
    droplet = build_droplet_disk(runtime, app, tmp_path / "droplet.raw")
    first, second, third = partitions(droplet)
    assert (third["start"], third["size"]) == (3 * MIB // 512, APP_MIN_MIB * MIB // 512)
    assert droplet.stat().st_size == (3 + APP_MIN_MIB) * MIB
    probe = ["blkid", "-p", "-O", str(3 * MIB), "-o", "value", "-s", "LABEL", str(droplet)]
    assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == APP_LABEL
    assert droplet.stat().st_blocks * 512 < droplet.stat().st_size  # sparse


def test_a_built_droplet_is_returned_untouched(runtime, app, tmp_path):
    droplet = build_droplet_disk(runtime, app, tmp_path / "droplet.raw")
    before = droplet.stat().st_mtime_ns
    assert build_droplet_disk(runtime, app, droplet) == droplet
    assert droplet.stat().st_mtime_ns == before


def test_an_app_over_the_cap_is_invalid_and_leaves_nothing(runtime, app, tmp_path):
    with pytest.raises(InvalidSpec):
        build_droplet_disk(runtime, app, tmp_path / "droplet.raw", max_app_bytes=5)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("droplet")] == []


def test_a_missing_app_folder_is_invalid(runtime, tmp_path):
    with pytest.raises(InvalidSpec):
        build_droplet_disk(runtime, tmp_path / "nope", tmp_path / "droplet.raw")


def test_junk_is_not_a_runtime_image(runtime, tmp_path):
    assert not is_valid(runtime)
    assert not is_valid(tmp_path / "missing.raw")
