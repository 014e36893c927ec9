"""Droplet disks: the runtime image with the staged app appended as partition 3.

A droplet is a sparse copy of the runtime raw file, grown by just enough for the app and
given a third partition holding an ext4 file system labelled ``nimbus-app`` made from the
app folder. It becomes an image; instances boot from copy-on-write clones of it, so an
instance starts in the same time whatever the app's size.
"""

from __future__ import annotations

import os
from pathlib import Path

from nimbus.errors import InvalidSpec
from paas import disk_layout, diskimage
from paas.disk_layout import LINUX_TYPE, MIB

DEFAULT_MAX_APP_BYTES = 1 << 30


def app_bytes(app_dir: Path, max_app_bytes: int) -> int:
    """The app folder's size; ``InvalidSpec`` if it is missing or over ``max_app_bytes``."""
    if not app_dir.is_dir():
        raise InvalidSpec(f"app folder {app_dir} does not exist")
    size = diskimage.tree_bytes(app_dir)
    if size > max_app_bytes:
        raise InvalidSpec(f"the app is {size} bytes, over the {max_app_bytes} byte limit")
    return size


def disk_mib(runtime: Path) -> int:
    """The runtime image's size in MiB (it is built whole-MiB: ``paas.disk_layout``)."""
    size = runtime.stat().st_size
    if size % MIB:
        raise InvalidSpec(f"runtime image {runtime} is not a whole number of MiB")
    return size // MIB


def build_droplet_disk(
    runtime: Path, app_dir: Path, out: Path, max_app_bytes: int = DEFAULT_MAX_APP_BYTES
) -> Path:
    """Build the droplet at ``out`` from the ``runtime`` image and ``app_dir``; return ``out``.

    Idempotent: droplets are renamed into place only when complete and a build's ``out``
    names that build, so a droplet already at ``out`` is returned untouched. Raises
    ``InvalidSpec`` if ``app_dir`` is missing or larger than ``max_app_bytes``.
    """
    if out.is_file():
        return out
    size = app_bytes(app_dir, max_app_bytes)
    part = disk_layout.app_partition(disk_mib(runtime), size)
    partial = out.with_name(out.name + ".partial")
    fs = out.with_name(out.name + ".app.ext4")
    try:
        diskimage.make_ext4(app_dir, fs, disk_layout.APP_LABEL, part.size_mib)
        diskimage.sparse_copy(runtime, partial)
        diskimage.grow(partial, part.end_mib)
        diskimage.partition(partial, part.sfdisk_line(LINUX_TYPE) + "\n", append=True)
        diskimage.write_at(fs, partial, part)
        os.replace(partial, out)
    finally:
        fs.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return out
