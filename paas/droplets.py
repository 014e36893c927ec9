"""Writing a staged droplet folder into a bootable disk: the contract, the real writer
(the PaaS runtime image with the app as a partition of its own) and an in-memory-like
fake for control-plane tests.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from activities.faults import Faults


class DropletWriter(Protocol):
    def write(self, droplet_dir: Path, out: Path) -> None:
        """Write ``droplet_dir`` into a raw disk at ``out`` that boots the app; an earlier
        ``out`` is replaced. ``InvalidSpec`` if the droplet is too large."""
        ...


class RuntimeDropletWriter:
    """The runtime image (built on first use) plus the droplet as partition 3."""

    def __init__(self, runtime_image: Callable[[], Path]) -> None:
        self.runtime_image = runtime_image

    def write(self, droplet_dir: Path, out: Path) -> None:
        from paas.droplet_disk import build_droplet_disk

        build_droplet_disk(self.runtime_image(), droplet_dir, out)


class FakeDropletWriter:
    """Writes the droplet folder as a tar file: a disk no guest boots, for tests whose
    hypervisor is a fake too. ``faults`` can fail a write."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.written: list[Path] = []

    def write(self, droplet_dir: Path, out: Path) -> None:
        self.faults.check("write")
        out.unlink(missing_ok=True)
        with tarfile.open(out, "w") as tar:
            tar.add(droplet_dir, arcname=".")
        self.written.append(out)
