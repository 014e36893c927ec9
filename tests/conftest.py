"""Shared fixtures: the guest image (built once a session) and a running libvirtd."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nimbus.guestimage import build_guest_image
from nimbus.services.libvirtd import LibvirtdHandle, ensure_libvirtd, stop_libvirtd


@pytest.fixture(scope="session")
def guest_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Downloaded and extracted packages, shared by every image a session builds."""
    return tmp_path_factory.mktemp("guest-work")


@pytest.fixture(scope="session")
def guest_image(tmp_path_factory: pytest.TempPathFactory, guest_work_dir: Path) -> Path:
    """The default guest image, built once for the session."""
    if shutil.which("syslinux") is None or shutil.which("mcopy") is None:
        pytest.skip("needs the syslinux, mtools and dosfstools packages")
    return build_guest_image(tmp_path_factory.mktemp("images") / "guest.raw", guest_work_dir)


@pytest.fixture(scope="session")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LibvirtdHandle]:
    """libvirtd answering on qemu:///system; stopped at the end only if we started it."""
    if os.geteuid() != 0 or shutil.which("libvirtd") is None:
        pytest.skip("needs root and libvirtd")
    base = tmp_path_factory.mktemp("libvirtd")
    handle = ensure_libvirtd(base / "log", base / "run")
    yield handle
    if handle.started:
        stop_libvirtd(handle.run_dir)
