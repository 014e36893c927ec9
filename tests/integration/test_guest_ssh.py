"""The guest's SSH server: every shared library dropbear loads is in the initramfs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nimbus import guestimage


def _needed(path: Path) -> set[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return {line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line}


def test_every_library_dropbear_loads_comes_along(guest_work_dir: Path, tmp_path: Path) -> None:
    files = guestimage.ssh_server(guest_work_dir)
    needed: set[str] = set()
    for name, data in files.items():
        path = tmp_path / Path(name).name
        path.write_bytes(data)
        needed |= _needed(path)
    assert "libc.so.6" in needed  # readelf really read them
    assert needed <= {Path(name).name for name in files}
