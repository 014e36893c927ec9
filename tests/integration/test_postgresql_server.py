"""The PostgreSQL service's image under QEMU/TCG: its script formats a blank data volume,
makes the cluster once, sets the app role's password and says READY; booted again on the
same volume it keeps the data; a volume holding something else is left untouched.

The cloud gives the password through the metadata service; this guest has no network, so
the test gives it with ``echo``. Reaching the database over the app network is the
end-to-end test's part (``tests/e2e/test_paas_services.py``).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from activities.hypervisor.base import Disk, DomainSpec
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.storage.qcow2 import QcowDiskDriver
from nimbus.configdrive import ConfigDrive, build_config_drive
from paas.postgresql import DATA_LABEL, READY, console_state, server_script

pytestmark = pytest.mark.libvirt
TIMEOUT = 300.0
VOLUME_ID = "5f0c2a8e-7b1d-4c55-9a0e-2d6b3f1e8c77"
PASSWORD = "0123abcd" * 4


def console(domain: DomainSpec) -> str:
    path = Path(domain.console_log)
    return path.read_text(errors="replace") if path.exists() else ""


def outcome(domain: DomainSpec) -> tuple[bool, str | None]:
    """Wait for READY or FAILED on the console."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, reason = console_state(console(domain))
        if ready or reason:
            return ready, reason
        time.sleep(0.5)
    raise AssertionError(f"neither READY nor FAILED after {TIMEOUT} s:\n{console(domain)}")


@pytest.fixture
def boot(libvirtd, tmp_path: Path) -> Iterator[Callable[[Path, Path], DomainSpec]]:
    """Boot the image with the server script; attach ``volume`` once it runs (as the
    service's workflow does); destroy every domain and overlay made."""
    hv, disks, made = LibvirtDriver(libvirtd.uri), QcowDiskDriver(tmp_path / "disks"), []

    def start(image: Path, volume: Path) -> DomainSpec:
        uid = str(uuid.uuid4())
        script = server_script(VOLUME_ID, f"echo {PASSWORD}")
        drive = ConfigDrive(uid, "pg", "pg", "p", user_data=script.encode())
        root = Disk("vda", "file", disks.create_overlay(uid, str(image), 1), "qcow2")
        iso = build_config_drive(drive, tmp_path / f"{uid}.iso")
        domain = DomainSpec(
            f"nimbustest-{uid}", uid, 1, 512, root, str(tmp_path / f"{uid}.console"),
            config_drive=str(iso),
        )  # fmt: skip
        made.append(domain)
        hv.define_and_start(domain)
        deadline = time.monotonic() + 60
        while "waiting for the data volume" not in console(domain):
            assert time.monotonic() < deadline, console(domain)
            time.sleep(0.2)
        hv.attach_disk(domain.name, Disk("vdb", "file", str(volume), serial=VOLUME_ID[:20]))
        return domain

    def stop(domain: DomainSpec) -> None:
        hv.destroy(domain.name)

    start.stop = stop  # type: ignore[attr-defined]
    yield start
    for domain in made:
        hv.destroy(domain.name)
        disks.delete(domain.uuid)


def debugfs(volume: Path, request: str) -> str:
    return subprocess.run(
        ["debugfs", "-R", request, str(volume)], capture_output=True, text=True, check=True
    ).stdout


def test_a_blank_volume_is_formatted_once_and_the_cluster_survives_a_second_boot(
    boot, postgresql_image: Path, tmp_path: Path
):
    volume = tmp_path / "data.raw"
    subprocess.run(["truncate", "-s", "256M", str(volume)], check=True)

    first = boot(postgresql_image, volume)
    assert outcome(first) == (True, None), console(first)
    log = console(first)
    assert "formatting the blank data volume" in log and "making the database cluster" in log
    assert PASSWORD not in log
    boot.stop(first)
    label = subprocess.run(
        ["e2label", str(volume)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert label == DATA_LABEL
    assert debugfs(volume, "cat /15/main/PG_VERSION").strip() == "15"

    second = boot(postgresql_image, volume)
    assert outcome(second) == (True, None), console(second)
    log = console(second)
    assert READY in log
    assert "formatting" not in log and "making the database cluster" not in log


def test_a_volume_holding_something_else_is_left_untouched(
    boot, postgresql_image: Path, tmp_path: Path
):
    volume = tmp_path / "other.raw"
    subprocess.run(["truncate", "-s", "64M", str(volume)], check=True)
    with volume.open("r+b") as f:
        f.write(b"someone else's data")
    domain = boot(postgresql_image, volume)
    ready, reason = outcome(domain)
    assert not ready
    assert reason is not None and "left untouched" in reason
    assert volume.read_bytes()[:19] == b"someone else's data"
