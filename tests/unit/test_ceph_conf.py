"""Reading a Ceph conf and keyring: monitors and keys for QEMU, from ours or any cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.services.ceph_conf import (
    CephPaths,
    ClusterIdentity,
    ceph_access,
    parse_monitors,
    read_identity,
    render_conf,
    render_keyring,
)
from nimbus.errors import InvalidSpec


@pytest.mark.parametrize(
    ("mon_host", "expected"),
    [
        ("10.0.0.1", ["10.0.0.1:6789"]),
        (
            "10.0.0.1:6790, 10.0.0.2;mon3.example",
            ["10.0.0.1:6790", "10.0.0.2:6789", "mon3.example:6789"],
        ),
        (
            "[v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0],[v2:10.0.0.2:3300]",
            ["10.0.0.1:6789", "10.0.0.2:3300"],
        ),
        ("[v1:127.0.0.1:21000]", ["127.0.0.1:21000"]),
        ("[v2:[::1]:3300,v1:[::1]:6789]", ["[::1]:6789"]),
    ],
)
def test_monitors_are_read_in_every_spelling_ceph_accepts(mon_host: str, expected: list[str]):
    assert parse_monitors(mon_host) == expected


def test_access_of_an_external_cluster_reads_conf_and_keyring(tmp_path: Path):
    conf, keyring = tmp_path / "ceph.conf", tmp_path / "nimbus.keyring"
    conf.write_text("[global]\nfsid = f\nmon host = 10.0.0.1, 10.0.0.2\n")
    keyring.write_text("[client.nimbus]\n\tkey = AQDnimbusTestKeyAAAAAAAAAAAAAAAAAAAAAA==\n")
    access = ceph_access(conf, keyring, "nimbus")
    assert access.monitors == ("10.0.0.1:6789", "10.0.0.2:6789") and access.user == "nimbus"
    assert access.key == "AQDnimbusTestKeyAAAAAAAAAAAAAAAAAAAAAA=="
    with pytest.raises(InvalidSpec):
        ceph_access(conf, keyring, "admin")


def test_our_conf_keeps_its_identity_and_keyring_its_caps(tmp_path: Path):
    paths = CephPaths(tmp_path)
    ident = ClusterIdentity("2c1c0f1e-0000-4000-8000-000000000000", 21000)
    paths.conf.write_text(render_conf(paths, ident, tmp_path / "log", tmp_path / "run", 1 << 30))
    assert read_identity(paths.conf) == ident
    assert 'caps mon = "allow profile osd"' in render_keyring({"osd.0": "K"})
