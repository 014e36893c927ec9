"""OpenStack config drives: an ISO 9660 labelled ``config-2`` that a guest reads at boot.

The layout is Nova's, so cloud-init and other guests that know Nova read it unchanged::

    openstack/<version>/meta_data.json     identity, metadata, keys (see ``meta_data``)
    openstack/<version>/user_data          the user's data, verbatim (only if given)
    openstack/<version>/network_data.json  NICs and how to configure them

for ``version`` in ``VERSIONS``. The file tree is a pure function (``config_drive_files``);
only ``build_config_drive`` touches the disk, calling ``genisoimage`` (Debian package
``genisoimage``).

The ISO records a digest of its file tree in its application id, so building the same
drive again leaves the file alone, and a changed one replaces it atomically: a guest (or
QEMU) that has the old file open keeps reading the old one whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nimbus.errors import BackendUnavailable

LABEL = "config-2"
#: ``latest`` and the first metadata version, as Nova writes them.
VERSIONS = ("latest", "2012-08-10")
#: Where the primary volume descriptor's application id (128 bytes) sits in an ISO.
APPLICATION_ID = (16 * 2048 + 574, 128)
DIGEST_PREFIX = "NIMBUS-"
#: Nova's naming options: Joliet and rationalized Rock Ridge (files owned by root and
#: readable by all, whatever the build folder's modes), and plain ISO 9660 names kept as
#: they are for guests that read neither extension.
ISO_NAMES = ("-J", "-r", "-l", "-ldots", "-allow-lowercase", "-allow-multidot")


class ConfigDriveError(BackendUnavailable):
    """``genisoimage`` failed to write the drive (the host's fault: retried)."""


@dataclass(frozen=True)
class ConfigDrive:
    """What a server's config drive tells its guest.

    Attributes:
        uuid: the server's uuid.
        name: the server's name.
        hostname: the guest's host name.
        project_id: the project owning the server.
        metadata: the server's metadata (``meta`` in meta_data.json).
        user_data: the user's data, verbatim, or ``None``.
        network_data: the network_data.json document (see ``network_data_json``).
        availability_zone: the server's availability zone.
        launch_index: the server's index among those created by one request.
        public_keys: the server's key pair, ``{name: OpenSSH public key}`` (at most one).
    """

    uuid: str
    name: str
    hostname: str
    project_id: str
    metadata: dict[str, str] = field(default_factory=dict)
    user_data: bytes | None = None
    network_data: dict[str, Any] = field(default_factory=dict)
    availability_zone: str = "nova"
    launch_index: int = 0
    public_keys: dict[str, str] = field(default_factory=dict)


class Link(Protocol):
    """A guest NIC as network_data.json describes it (``Nic`` and ``NicInput`` are)."""

    @property
    def mac(self) -> str: ...

    @property
    def mtu(self) -> int: ...


def network_data_json(links: Sequence[Link]) -> dict[str, Any]:
    """Nova's network_data.json for NICs that take their address by DHCP: one physical
    link per NIC (in guest order) and one ``ipv4_dhcp`` network on each."""
    return {
        "links": [
            {
                "id": f"interface{index}",
                "type": "phy",
                "ethernet_mac_address": link.mac.lower(),
                "mtu": link.mtu,
            }
            for index, link in enumerate(links)
        ],
        "networks": [
            {"id": f"network{index}", "type": "ipv4_dhcp", "link": f"interface{index}"}
            for index in range(len(links))
        ],
        "services": [],
    }


def meta_data(drive: ConfigDrive) -> dict[str, Any]:
    """The meta_data.json document; ``uuid`` first, so a shell can find it by grep."""
    return {
        "uuid": drive.uuid,
        "name": drive.name,
        "hostname": drive.hostname,
        "project_id": drive.project_id,
        "meta": dict(drive.metadata),
        "availability_zone": drive.availability_zone,
        "launch_index": drive.launch_index,
        "public_keys": dict(drive.public_keys),
        "keys": [
            {"name": name, "type": "ssh", "data": key} for name, key in drive.public_keys.items()
        ],
        "files": [],
    }


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=False).encode()


def config_drive_files(drive: ConfigDrive) -> dict[str, bytes]:
    """The drive's file tree: path inside the ISO -> contents."""
    files: dict[str, bytes] = {}
    for version in VERSIONS:
        folder = f"openstack/{version}"
        files[f"{folder}/meta_data.json"] = _json(meta_data(drive))
        if drive.user_data is not None:
            files[f"{folder}/user_data"] = drive.user_data
        files[f"{folder}/network_data.json"] = _json(drive.network_data)
    return files


def tree_digest(files: dict[str, bytes]) -> str:
    """A digest of a file tree (names and contents), recorded in the ISO it is built into."""
    sha = hashlib.sha256()
    for name in sorted(files):
        sha.update(hashlib.sha256(name.encode()).digest())
        sha.update(hashlib.sha256(files[name]).digest())
    return DIGEST_PREFIX + sha.hexdigest().upper()


def recorded_digest(iso: Path) -> str | None:
    """The tree digest an ISO built here records, or ``None`` (missing, short, foreign)."""
    offset, length = APPLICATION_ID
    try:
        with iso.open("rb") as file:
            file.seek(offset)
            value = file.read(length).decode("ascii", errors="replace").strip()
    except FileNotFoundError:
        return None
    return value if value.startswith(DIGEST_PREFIX) else None


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def build_config_drive(drive: ConfigDrive, path: Path) -> Path:
    """Write the drive as an ISO 9660 labelled ``config-2`` at ``path``.

    Idempotent: an ISO already there with the same file tree is left untouched. The new
    ISO is written beside ``path`` and renamed over it, so ``path`` is never partial.
    Raises ``ConfigDriveError`` if ``genisoimage`` fails.
    """
    files = config_drive_files(drive)
    digest = tree_digest(files)
    if recorded_digest(path) == digest:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".configdrive-") as tree:
        _write_tree(Path(tree), files)
        argv = ["genisoimage", "-quiet", *ISO_NAMES, "-V", LABEL, "-A", digest]
        proc = subprocess.run([*argv, "-o", str(partial), tree], capture_output=True, text=True)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ConfigDriveError(f"genisoimage: {proc.stderr.strip()}")
    os.replace(partial, path)
    return path
