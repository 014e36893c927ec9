"""The real thing: a droplet boots under QEMU/TCG, its launch script runs the app, the app's
output reaches ``app.log`` through the second serial port, and its exit powers the guest off.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from activities.hypervisor.base import Disk, DomainSpec, PowerState
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.storage.qcow2 import QcowDiskDriver
from nimbus.configdrive import ConfigDrive, build_config_drive
from paas.droplet_disk import build_droplet_disk
from paas.launch import (
    APP_EXITED,
    APP_STARTED,
    MOUNT_FAILED_STATUS,
    LaunchSpec,
    launch_script,
)
from paas.runtime import build_runtime_image

pytestmark = pytest.mark.libvirt
TIMEOUT = 120.0

APP = """import os, socket, sys, time
print("app says hello from instance", os.environ["INSTANCE_INDEX"], os.environ["GREETING"])
print("localhost is", socket.gethostbyname("localhost"))
print("python", sys.version_info[:2], "home", os.environ["HOME"], file=sys.stderr)
time.sleep(0.5)
sys.exit(3)
"""
#: busybox httpd serves the app's public folder; fetching the page from inside the guest
#: shows it does (the test has no network path to the guest).
STATIC_COMMAND = (
    "httpd -p $PORT -h /app/public && sleep 0.5 && "
    "wget -q -O - http://127.0.0.1:$PORT/index.html; exit 5"
)


def wait_for(check: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def boot(libvirtd, tmp_path: Path) -> Iterator[Callable[[Path, LaunchSpec], DomainSpec]]:
    """Boot a droplet on a qcow2 overlay with the launch script as user data; destroy every
    domain and disk made."""
    hv, disks, made = LibvirtDriver(libvirtd.uri), QcowDiskDriver(tmp_path / "disks"), []

    def start(droplet: Path, spec: LaunchSpec) -> DomainSpec:
        uid = str(uuid.uuid4())
        drive = ConfigDrive(uid, "app", "app-0", "p", user_data=launch_script(spec).encode())
        root = Disk("vda", "file", disks.create_overlay(uid, str(droplet), 1), "qcow2")
        iso = build_config_drive(drive, tmp_path / f"{uid}.iso")
        domain = DomainSpec(
            f"nimbustest-{uid}", uid, 1, 256, root, str(tmp_path / f"{uid}.console"),
            config_drive=str(iso), app_log=str(tmp_path / f"{uid}.app.log"),
        )  # fmt: skip
        made.append(domain)
        hv.define_and_start(domain)
        return domain

    yield start
    for domain in made:
        hv.destroy(domain.name)
        disks.delete(domain.uuid)


def droplet_of(files: dict[str, str], tmp_path: Path, runtime: Path) -> Path:
    app = tmp_path / "app"
    for name, text in files.items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text(text)
    return build_droplet_disk(runtime, app, tmp_path / "droplet.raw")


def test_python_app_output_and_exit_status_reach_app_log_and_guest_powers_off(
    boot: Callable, libvirtd, runtime_image: Path, tmp_path: Path
):
    droplet = droplet_of({"app.py": APP}, tmp_path, runtime_image)
    spec = LaunchSpec("hello", 0, "python3 app.py", "python", env={"GREETING": "it's $me"})
    domain = boot(droplet, spec)
    app_log = Path(domain.app_log)
    assert wait_for(lambda: f"{APP_EXITED} 3" in read(app_log)), read(Path(domain.console_log))
    log = read(app_log)
    assert f"{APP_STARTED} 0\n" in log
    assert "app says hello from instance 0 it's $me" in log
    assert "python (3, 11) home /app" in log
    assert "localhost is 127.0.0.1" in log
    hv = LibvirtDriver(libvirtd.uri)
    assert wait_for(lambda: hv.power_state(domain.name) == PowerState.SHUTDOWN, 30)


def test_static_site_is_served_by_busybox_httpd_from_the_app_partition(
    boot: Callable, runtime_image: Path, tmp_path: Path
):
    droplet = droplet_of({"public/index.html": "<p>static ok</p>\n"}, tmp_path, runtime_image)
    domain = boot(droplet, LaunchSpec("site", 1, STATIC_COMMAND, "static", port=8081))
    app_log = Path(domain.app_log)
    assert wait_for(lambda: f"{APP_EXITED} 5" in read(app_log)), read(Path(domain.console_log))
    assert f"{APP_STARTED} 1\n" in read(app_log)
    assert "<p>static ok</p>" in read(app_log)


def test_a_runtime_without_an_app_partition_reports_the_mount_failure(
    boot: Callable, runtime_image: Path
):
    domain = boot(runtime_image, LaunchSpec("none", 0, "python3 app.py", "python"))
    app_log = Path(domain.app_log)
    assert wait_for(lambda: f"{APP_EXITED} {MOUNT_FAILED_STATUS}" in read(app_log))
    assert "no disk LABEL=nimbus-app" in read(app_log)
    assert APP_STARTED not in read(app_log)


def test_building_the_runtime_again_returns_it_untouched(runtime_image: Path, guest_work_dir):
    before = runtime_image.stat().st_mtime_ns
    assert build_runtime_image(runtime_image, guest_work_dir) == runtime_image
    assert runtime_image.stat().st_mtime_ns == before
