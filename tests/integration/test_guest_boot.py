"""The real thing: the built guest image boots under QEMU/TCG through libvirt."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from activities.hypervisor.base import Disk, DomainSpec, PowerState
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.hypervisor.probe import probe_kvm
from activities.storage.qcow2 import QcowDiskDriver
from launcher.services.libvirtd import LibvirtdHandle, ensure_libvirtd, stop_libvirtd
from nimbus.guestimage import build_guest_image
from nimbus.initramfs import POWEROFF_FLAG, READY_MARKER

pytestmark = pytest.mark.libvirt
BOOT_TIMEOUT = 60.0


def wait_until(check: Callable[[], bool], timeout: float = BOOT_TIMEOUT) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def hv(libvirtd: LibvirtdHandle) -> LibvirtDriver:
    return LibvirtDriver(libvirtd.uri)


@pytest.fixture
def disks(tmp_path: Path) -> QcowDiskDriver:
    return QcowDiskDriver(tmp_path / "disks")


@pytest.fixture
def boot(hv: LibvirtDriver, disks: QcowDiskDriver, tmp_path: Path) -> Iterator[Callable]:
    """Boot guests from an image on fresh overlays; destroy them and their disks after."""
    made: list[DomainSpec] = []

    def start(image: Path) -> DomainSpec:
        uid = str(uuid.uuid4())
        disk = disks.create_overlay(uid, str(image), 1)
        root = Disk("vda", "file", disk, "qcow2")
        spec = DomainSpec(f"nimbustest-{uid}", uid, 1, 128, root, str(tmp_path / f"{uid}.log"))
        made.append(spec)
        hv.define_and_start(spec)
        return spec

    yield start
    for spec in made:
        hv.destroy(spec.name)
        disks.delete(spec.uuid)


def test_guest_boots_to_ready_and_destroy_cleans_up(
    hv: LibvirtDriver, disks: QcowDiskDriver, guest_image: Path
):
    uid = str(uuid.uuid4())
    disk = disks.create_overlay(uid, str(guest_image), 1)
    root = Disk("vda", "file", disk, "qcow2")
    spec = DomainSpec(f"nimbustest-{uid}", uid, 1, 128, root, f"{disk}.console")
    try:
        hv.define_and_start(spec)
        assert wait_until(lambda: READY_MARKER in hv.console_output(spec.name))
        assert READY_MARKER in hv.console_output(spec.name, max_lines=50)
    finally:
        hv.destroy(spec.name)
        disks.delete(uid)
    assert spec.name not in hv.power_states("nimbustest-")
    assert not disks.exists(uid) and not Path(disk).parent.exists()


def test_guest_that_powers_itself_off_shows_shutdown(
    hv: LibvirtDriver, boot: Callable, guest_work_dir: Path, tmp_path: Path
):
    image = build_guest_image(tmp_path / "poweroff.raw", guest_work_dir, POWEROFF_FLAG)
    spec = boot(image)
    assert wait_until(lambda: hv.power_state(spec.name) == PowerState.SHUTDOWN)
    assert READY_MARKER in hv.console_output(spec.name)


def test_guest_survives_libvirtd_restart(
    hv: LibvirtDriver, boot: Callable, guest_image: Path, libvirtd: LibvirtdHandle, tmp_path
):
    if "libvirtd" not in libvirtd.started:
        pytest.skip("libvirtd was not started by this session; not restarting someone's")
    spec = boot(guest_image)
    stop_libvirtd(libvirtd.run_dir)
    again = ensure_libvirtd(tmp_path / "log", libvirtd.run_dir)
    assert "libvirtd" in again.started
    # The driver's old connection is dead: it must reconnect by itself.
    assert hv.power_state(spec.name) == PowerState.RUNNING


def test_ensure_libvirtd_again_starts_nothing(libvirtd: LibvirtdHandle, tmp_path: Path):
    again = ensure_libvirtd(tmp_path / "log", libvirtd.run_dir)
    assert again.started == ()


def test_probe_kvm_answers_within_its_timeout(guest_image: Path):
    started = time.monotonic()
    result = probe_kvm(guest_image, timeout=5)
    assert time.monotonic() - started < 10
    if Path("/sys/module/kvm_pvm").exists():
        assert result is False  # a paravirtual KVM does not boot stock kernels
