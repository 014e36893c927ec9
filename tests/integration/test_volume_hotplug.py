"""A volume moves between running servers with its data: hot-plug on real QEMU, checked
from inside the guests."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest

from activities.hypervisor.base import Disk, DomainSpec
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.storage.qcow2 import QcowDiskDriver
from launcher.services.libvirtd import LibvirtdHandle
from nimbus.errors import BackendUnavailable
from nimbus.initramfs import READY_MARKER
from tests.support.guest import GuestShell

pytestmark = pytest.mark.libvirt
TIMEOUT = 60.0


def wait_until(check: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture
def hv(libvirtd: LibvirtdHandle) -> LibvirtDriver:
    return LibvirtDriver(libvirtd.uri)


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """Disks and console logs of one test; removed afterwards, even on failure."""
    path = tmp_path / "work"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def servers(hv: LibvirtDriver, guest_image: Path, work: Path) -> Iterator[Callable[[], str]]:
    """Start default guests on qcow2 overlays (not waiting); destroy them all afterwards."""
    disks, names = QcowDiskDriver(work / "disks"), []

    def start() -> str:
        uid = str(uuid.uuid4())
        root = Disk("vda", "file", disks.create_overlay(uid, str(guest_image), 1), "qcow2")
        spec = DomainSpec(f"nimbustest-{uid}", uid, 1, 128, root, str(work / f"{uid}.log"))
        names.append(spec.name)
        hv.define_and_start(spec)
        return spec.name

    yield start
    for name in names:
        hv.destroy(name)


@pytest.fixture
def volume(work: Path) -> Disk:
    """An 8 MiB raw volume file, as vdb."""
    path = work / "volume.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(path), "8M"], check=True)
    return Disk("vdb", "file", str(path), "raw", serial="volume1")


def ready(hv: LibvirtDriver, *names: str) -> bool:
    """Wait until every guest booted to its shell."""
    return all(wait_until(lambda n=n: READY_MARKER in hv.console_output(n)) for n in names)


def sees_vdb(shell: GuestShell) -> bool:
    """Whether the guest has a vdb block device."""
    return "vdb" in shell.run("ls /sys/block").split()


def test_data_written_on_one_server_is_read_back_on_another(
    hv: LibvirtDriver, servers: Callable[[], str], volume: Disk
):
    first, second = servers(), servers()
    assert ready(hv, first, second)
    data = f"nimbus-{uuid.uuid4().hex}"

    with GuestShell(hv.uri, first) as shell:
        hv.attach_disk(first, volume)
        assert wait_until(lambda: sees_vdb(shell), 20)
        shell.run(f"echo {data} | dd of=/dev/vdb conv=fsync 2>/dev/null")
        hv.detach_disk(first, "vdb")
        assert not sees_vdb(shell)
    assert Path(volume.source).read_bytes().startswith(data.encode())

    with GuestShell(hv.uri, second) as shell:
        hv.attach_disk(second, volume)
        assert wait_until(lambda: sees_vdb(shell), 20)
        assert shell.run(f"head -c {len(data)} /dev/vdb; echo").strip() == data


def test_detach_waits_for_the_guest_and_a_retry_completes_it(
    hv: LibvirtDriver, servers: Callable[[], str], volume: Disk
):
    name = servers()
    assert ready(hv, name)
    hv.attach_disk(name, volume)
    impatient = LibvirtDriver(hv.uri, detach_timeout=0.5)
    conn = libvirt.open(hv.uri)
    try:
        conn.lookupByName(name).suspend()  # a paused guest cannot answer the unplug request
        with pytest.raises(BackendUnavailable):
            impatient.detach_disk(name, "vdb")
        assert [disk.target for disk in hv.disks(name)] == ["vda", "vdb"]
        conn.lookupByName(name).resume()
    finally:
        conn.close()
    hv.detach_disk(name, "vdb")
    assert [disk.target for disk in hv.disks(name)] == ["vda"]
