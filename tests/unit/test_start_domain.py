"""``start_domain`` plugs the server's ports in as NICs and builds its config drive first."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from temporalio.converter import DataConverter

from activities.compute import ComputeActivities, ConfigDriveInput, NicInput, StartDomainInput
from activities.hypervisor.base import DomainSpec, Nic
from activities.hypervisor.fake import FakeHypervisor
from activities.storage.fake_block import FakeBlockStore
from nimbus.errors import InvalidSpec
from tests.conftest import FAKE_CEPH

SERVER = "6c1b1a3e-0f6a-4d0e-9a51-0d7c3e1c2b11"
PORT = NicInput("5d2f9a1c-7b3e-4c1d-8e6f-0a9b8c7d6e5f", "fa:16:3e:00:00:01", "net-1234567890")
DRIVE = ConfigDriveInput(
    "web 1", "web-1", "p1", {"role": "web"}, base64.b64encode(b"#!/bin/sh\n").decode()
)
INPUT = StartDomainInput(SERVER, 1, 128, (PORT,), DRIVE)


def start(tmp_path: Path, inp: StartDomainInput = INPUT) -> DomainSpec:
    """Run ``start_domain`` over the fakes; return the spec the hypervisor was given."""
    hv = FakeHypervisor(ceph=FAKE_CEPH)
    ComputeActivities(hv, FakeBlockStore(), tmp_path, "nimbus-").start_domain(inp)
    return hv.domains[f"nimbus-{inp.server_id}"].spec


def test_ports_become_taps_on_their_networks_bridges(tmp_path: Path):
    spec = start(tmp_path)
    assert spec.nics == (Nic("fa:16:3e:00:00:01", "brqnet-1234567", "tap5d2f9a1c-7b", 1450),)


@pytest.mark.skipif(shutil.which("isoinfo") is None, reason="needs the genisoimage package")
def test_the_config_drive_is_built_in_the_instance_folder(tmp_path: Path):
    spec = start(tmp_path)
    assert spec.config_drive == str(tmp_path / SERVER / "config.iso")
    read = ["isoinfo", "-R", "-i", spec.config_drive, "-x"]
    meta = subprocess.run([*read, "/openstack/latest/meta_data.json"], capture_output=True)
    assert json.loads(meta.stdout)["uuid"] == SERVER
    data = subprocess.run([*read, "/openstack/latest/user_data"], capture_output=True)
    assert data.stdout == b"#!/bin/sh\n"


def test_the_app_log_port_is_logged_in_the_instance_folder(tmp_path: Path):
    assert start(tmp_path).app_log == str(tmp_path / SERVER / "app.log")


def test_without_a_config_drive_no_iso_is_made(tmp_path: Path):
    assert start(tmp_path, StartDomainInput(SERVER, 1, 128)).config_drive is None
    assert not (tmp_path / SERVER / "config.iso").exists()


def test_user_data_that_is_not_base64_is_invalid(tmp_path: Path):
    bad = StartDomainInput(
        SERVER, 1, 128, config_drive=ConfigDriveInput("a", "a", "p", user_data="%%")
    )
    with pytest.raises(InvalidSpec):
        start(tmp_path, bad)


def test_the_input_survives_temporals_json_round_trip():
    converter = DataConverter.default.payload_converter
    payload = converter.to_payloads([INPUT])
    assert converter.from_payloads(payload, [StartDomainInput]) == [INPUT]
