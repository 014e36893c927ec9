"""Config drives: Nova's file tree, network_data.json, and the ISO read back."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from activities.hypervisor.base import Nic
from nimbus import configdrive
from nimbus.configdrive import ConfigDrive, build_config_drive, config_drive_files

UUID = "6c1b1a3e-0f6a-4d0e-9a51-0d7c3e1c2b11"
NIC = Nic("FA:16:3E:00:00:01", "brq1", "tap1", 1450)
DRIVE = ConfigDrive(
    uuid=UUID,
    name="web 1",
    hostname="web-1",
    project_id="p1",
    metadata={"role": "web"},
    user_data=b"#!/bin/sh\necho hello\n",
    network_data=configdrive.network_data_json([NIC]),
)

needs_genisoimage = pytest.mark.skipif(
    shutil.which("genisoimage") is None or shutil.which("isoinfo") is None,
    reason="needs the genisoimage package",
)


def test_meta_data_has_novas_keys_under_every_version():
    files = config_drive_files(DRIVE)
    for version in ("latest", "2012-08-10"):
        meta = json.loads(files[f"openstack/{version}/meta_data.json"])
        assert meta == {
            "uuid": UUID,
            "name": "web 1",
            "hostname": "web-1",
            "project_id": "p1",
            "meta": {"role": "web"},
            "availability_zone": "nova",
            "launch_index": 0,
            "public_keys": {},
            "keys": [],
            "files": [],
        }
        assert files[f"openstack/{version}/user_data"] == DRIVE.user_data
        assert json.loads(files[f"openstack/{version}/network_data.json"]) == DRIVE.network_data


def test_the_key_pair_is_in_public_keys_and_keys():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1 me@host"
    files = config_drive_files(replace(DRIVE, public_keys={"mykey": key}))
    meta = json.loads(files["openstack/latest/meta_data.json"])
    assert meta["public_keys"] == {"mykey": key}
    assert meta["keys"] == [{"name": "mykey", "type": "ssh", "data": key}]


def test_user_data_is_left_out_when_there_is_none():
    files = config_drive_files(replace(DRIVE, user_data=None))
    assert not any(name.endswith("user_data") for name in files)
    assert "openstack/latest/meta_data.json" in files


def test_network_data_has_a_phy_link_and_a_dhcp_network_per_nic():
    second = Nic("fa:16:3e:00:00:02", "brq2", "tap2", 9000)
    data = configdrive.network_data_json([NIC, second])
    link = {"type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01", "mtu": 1450}
    assert data["links"] == [
        {"id": "interface0", **link},
        {"id": "interface1", **link, "ethernet_mac_address": "fa:16:3e:00:00:02", "mtu": 9000},
    ]
    assert [(n["type"], n["link"]) for n in data["networks"]] == [
        ("ipv4_dhcp", "interface0"),
        ("ipv4_dhcp", "interface1"),
    ]


def test_the_tree_digest_follows_names_and_contents():
    digest = configdrive.tree_digest
    assert digest({"a": b"1"}) == digest({"a": b"1"})
    assert digest({"a": b"1"}) != digest({"a": b"2"})
    assert digest({"a": b"1"}) != digest({"b": b"1"})


def iso_file(iso: Path, name: str) -> bytes:
    """A file read back from the ISO by its Rock Ridge name, with no mount."""
    return subprocess.run(
        ["isoinfo", "-R", "-i", str(iso), "-x", name], capture_output=True, check=True
    ).stdout


@needs_genisoimage
def test_the_iso_is_labelled_config_2_and_holds_the_tree(tmp_path: Path):
    iso = build_config_drive(DRIVE, tmp_path / "config.iso")
    info = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True)
    assert "Volume id: config-2" in info.stdout
    meta = json.loads(iso_file(iso, "/openstack/latest/meta_data.json"))
    assert meta["uuid"] == UUID
    assert iso_file(iso, "/openstack/2012-08-10/user_data") == DRIVE.user_data
    assert json.loads(iso_file(iso, "/openstack/latest/network_data.json")) == DRIVE.network_data


@needs_genisoimage
def test_building_the_same_drive_again_leaves_the_iso_alone(tmp_path: Path):
    iso = build_config_drive(DRIVE, tmp_path / "config.iso")
    before = iso.stat()
    build_config_drive(DRIVE, iso)
    assert (iso.stat().st_ino, iso.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@needs_genisoimage
def test_a_changed_drive_replaces_the_iso_whole(tmp_path: Path):
    iso = build_config_drive(DRIVE, tmp_path / "config.iso")
    build_config_drive(replace(DRIVE, hostname="web-2"), iso)
    assert json.loads(iso_file(iso, "/openstack/latest/meta_data.json"))["hostname"] == "web-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.iso"]
