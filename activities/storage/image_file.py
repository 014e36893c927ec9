"""Local image files on their way into a block store: format checks and sparse reading.

Shared by ``RbdBlockStore`` and ``FakeBlockStore`` so both accept and refuse exactly the
same files.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from nimbus.errors import BackendUnavailable, InvalidSpec, NotFound

FORMATS = ("raw", "qcow2")
CHUNK = 4 << 20


def qemu_img(*args: str, timeout: float | None = 60) -> str:
    """Run ``qemu-img``; a failure to run is ``BackendUnavailable``, its refusal of the
    file ``InvalidSpec`` (a corrupt or truncated image)."""
    try:
        proc = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendUnavailable(f"qemu-img {args[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise InvalidSpec(f"qemu-img {args[0]}: {proc.stderr.strip()}")
    return proc.stdout


def check_format(path: str, disk_format: str) -> int:
    """Check that the file is of ``disk_format`` and return its virtual size in bytes.

    The format is probed, never trusted: a qcow2 file declared raw would otherwise be
    copied as its container bytes, and a qcow2 with a backing or data file could make the
    conversion read arbitrary host files. ``NotFound`` if the file is missing,
    ``InvalidSpec`` for any mismatch.
    """
    if disk_format not in FORMATS:
        raise InvalidSpec(f"disk format {disk_format!r} is not one of {FORMATS}")
    if not Path(path).is_file():
        raise NotFound(f"image file {path} does not exist")
    info = json.loads(qemu_img("info", "--output=json", path))
    if info.get("format") != disk_format:
        # The message reaches the image's owner: it names the data, not the host's path.
        raise InvalidSpec(f"the image data is {info.get('format')}, not {disk_format}")
    if info.get("backing-filename") or info.get("format-specific", {}).get("data", {}).get(
        "data-file"
    ):
        raise InvalidSpec("the image data refers to another file (a backing or data file)")
    return int(info["virtual-size"])


def to_raw(path: str, target: str) -> None:
    """Convert a (checked) qcow2 file to raw at ``target``; raw's zeroes stay holes."""
    qemu_img("convert", "-f", "qcow2", "-O", "raw", path, target, timeout=None)


def data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` of each stretch of the file that may hold data; the file
    system's holes are skipped without being read."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end - start
        offset = end


def nonzero_chunks(path: str, chunk: int = CHUNK) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` of every chunk of the file that is not all zeroes, read a chunk
    at a time, so an image of any size streams in constant memory and stays sparse."""
    zero = bytes(chunk)
    with open(path, "rb", buffering=0) as file:
        size = os.fstat(file.fileno()).st_size
        for start, length in data_extents(file.fileno(), size):
            for offset in range(start, start + length, chunk):
                data = os.pread(file.fileno(), min(chunk, start + length - offset), offset)
                if data != zero[: len(data)]:
                    yield offset, data
