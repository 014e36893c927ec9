"""The real thing: the default guest takes its address by DHCP on a bridge, reads its
config drive, runs its user data and serves a page naming itself.

The test makes its own bridge, a namespace on it holding dnsmasq (one static lease) and
the client, and a guest with one NIC on that bridge; every packet stays among them.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from activities.hypervisor.base import Disk, DomainSpec, Nic
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.network.base import tap_name
from activities.storage.qcow2 import QcowDiskDriver
from launcher.services.libvirtd import LibvirtdHandle
from nimbus.configdrive import ConfigDrive, build_config_drive, network_data_json
from nimbus.initramfs import IP_MARKER, READY_MARKER, USER_DATA_MARKER
from tests.support import netlab

pytestmark = pytest.mark.libvirt
TIMEOUT = 90.0


def wait_for(check: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def fetch(ns: str, url: str) -> str:
    """``url`` fetched from inside the namespace; empty if it does not answer (yet).

    busybox 1.35's ``wget -T`` crashes, so the time limit is the subprocess's.
    """
    argv = netlab.in_namespace(ns, "busybox", "wget", "-q", "-O", "-", url)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return ""
    return proc.stdout if proc.returncode == 0 else ""


@pytest.fixture
def subnet() -> str:
    """A random 10.x.y: the prefix of the test's own /24."""
    octets = uuid.uuid4().bytes
    return f"10.{octets[0]}.{octets[1]}"


@pytest.fixture
def lab(subnet: str, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Bridge, namespace with dnsmasq leasing ``<subnet>.5`` to the guest's MAC; yields
    the bridge, the namespace and the MAC, and removes all of them afterwards."""
    mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:3])
    with (
        netlab.bridge(netlab.unique_name("brqt")) as bridge,
        netlab.namespace_on(bridge, f"{subnet}.1/24") as (ns, inner),
        netlab.dnsmasq(ns, inner, {mac: f"{subnet}.5"}, 1450, tmp_path),
    ):
        yield bridge, ns, mac


@pytest.fixture
def boot(
    libvirtd: LibvirtdHandle, guest_image: Path, tmp_path: Path
) -> Iterator[Callable[..., tuple[LibvirtDriver, DomainSpec]]]:
    """Boot the default guest on a fresh overlay with the given NICs and config drive;
    destroy the domain and its disk afterwards, even if the test failed."""
    hv, disks = LibvirtDriver(libvirtd.uri), QcowDiskDriver(tmp_path / "disks")
    started: list[DomainSpec] = []

    def start(uid: str, nics: tuple[Nic, ...], iso: Path) -> tuple[LibvirtDriver, DomainSpec]:
        root = Disk("vda", "file", disks.create_overlay(uid, str(guest_image), 1), "qcow2")
        log = str(tmp_path / f"{uid}.log")
        spec = DomainSpec(f"nimbustest-{uid}", uid, 1, 128, root, log, nics, str(iso))
        started.append(spec)
        hv.define_and_start(spec)
        return hv, spec

    yield start
    for spec in started:
        hv.destroy(spec.name)
        disks.delete(spec.uuid)


def test_guest_gets_its_address_runs_user_data_and_serves_its_page(
    lab: tuple[str, str, str], boot: Callable, subnet: str, tmp_path: Path
):
    bridge, ns, mac = lab
    uid, marker = str(uuid.uuid4()), f"user-data-ran-{uuid.uuid4().hex[:8]}"
    nic = Nic(mac, bridge, tap_name(uid), 1450)
    drive = ConfigDrive(
        uuid=uid,
        name="web 1",
        hostname="web-1",
        project_id="p1",
        user_data=f"#!/bin/sh\necho {marker}\n".encode(),
        network_data=network_data_json([nic]),
    )
    hv, spec = boot(uid, (nic,), build_config_drive(drive, tmp_path / "config.iso"))

    def console() -> str:
        return str(hv.console_output(spec.name))

    assert wait_for(lambda: f"{IP_MARKER} {subnet}.5 eth0" in console()), console()
    assert wait_for(lambda: marker in console(), 30), console()
    assert READY_MARKER in console() and USER_DATA_MARKER in console()
    pages = [""]

    def serves_its_page() -> bool:
        pages.append(fetch(ns, f"http://{subnet}.5/"))
        return uid in pages[-1]

    assert wait_for(serves_its_page, 60), (pages[-1], console())
    assert "web-1" in pages[-1]
