"""``DiskDriver`` on local files: qcow2 overlays over raw images, made with ``qemu-img``.

A disk lives at ``root/<disk_id>/disk``; its backing file is the image's absolute path
(backing format raw), so the image is shared and never written. ``qemu-img`` failures
become ``nimbus.errors`` in one place, ``run_qemu_img``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from nimbus.errors import BackendUnavailable, Conflict, InvalidSpec, NotFound

GIB = 1 << 30


def run_qemu_img(*args: str) -> str:
    """Run ``qemu-img``; its failures are ``BackendUnavailable`` (disk full, I/O, locks)."""
    try:
        proc = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendUnavailable(f"qemu-img {args[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise BackendUnavailable(f"qemu-img {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def image_info(path: Path) -> dict[str, Any]:
    """``qemu-img info`` as a dict; ``-U`` so a disk in use by a running guest can be read."""
    info: dict[str, Any] = json.loads(run_qemu_img("info", "-U", "--output=json", str(path)))
    return info


class QcowDiskDriver:
    """Root disks as qcow2 overlays under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, disk_id: str) -> str:
        """See ``DiskDriver.path``."""
        if not disk_id or "/" in disk_id or disk_id in (".", ".."):
            raise InvalidSpec(f"bad disk id {disk_id!r}")
        return str(self.root / disk_id / "disk")

    def exists(self, disk_id: str) -> bool:
        """See ``DiskDriver.exists``."""
        return Path(self.path(disk_id)).is_file()

    def create_overlay(self, disk_id: str, image_path: str, size_gib: int) -> str:
        """See ``DiskDriver.create_overlay``."""
        disk, image = Path(self.path(disk_id)), Path(image_path).absolute()
        if not image.is_file():
            raise NotFound(f"image {image} does not exist")
        if disk.is_file():
            return self._existing(disk, image)
        size = max(size_gib * GIB, image_info(image)["virtual-size"])
        disk.parent.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed, so a crash never leaves a half-made disk that looks done.
        partial = disk.with_name("disk.partial")
        run_qemu_img(
            "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image), str(partial), str(size)
        )
        partial.replace(disk)
        return str(disk)

    @staticmethod
    def _existing(disk: Path, image: Path) -> str:
        """An earlier call's disk is returned; one over another image is a conflict."""
        backing = image_info(disk).get("backing-filename")
        if backing != str(image):
            raise Conflict(f"disk {disk} exists backed by {backing}, not {image}")
        return str(disk)

    def delete(self, disk_id: str) -> None:
        """See ``DiskDriver.delete``."""
        folder = Path(self.path(disk_id)).parent
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BackendUnavailable(f"cannot remove {folder}: {exc}") from exc
