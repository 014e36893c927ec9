"""The settings a host simulated on this machine runs with, and the names it refuses
(``launcher.services.hosts``; the hosts themselves are made in tests/e2e/test_hosts_cli.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from launcher.services import hosts
from nimbus.config import Settings
from nimbus.errors import Conflict, InvalidSpec


def _settings(tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path, host_name="main", nft_table="nimbus")


@pytest.mark.parametrize("name", ["", "B", "1b", "a_b", "x" * 21, "a b"])
def test_bad_names_are_refused_before_anything_is_made(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidSpec):
        hosts.add(_settings(tmp_path), name)
    assert not (tmp_path / "hosts").exists()


def test_the_cloud_s_own_host_is_not_added_again(tmp_path: Path) -> None:
    with pytest.raises(Conflict):
        hosts.add(_settings(tmp_path), "main")


def test_a_host_runs_compute_only_with_its_own_name_vtep_libvirt_and_folder(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    host = hosts.LocalHost("hostb", 3, tmp_path / "hosts" / "hostb", "nimbus")
    own = hosts.host_settings(settings, host)
    assert (own.host_name, own.vtep_address) == ("hostb", "172.31.254.3")
    assert not own.control_worker and not own.network_node
    assert own.libvirt_uri.endswith("/hosts/hostb/libvirt/run/libvirt-sock")
    assert own.instances_dir.is_relative_to(host.folder)
    # The cloud's database and Ceph, not ones of its own folder.
    assert (own.db_url, own.ceph_conf_path) == (settings.db_url, settings.ceph_conf_path)
    assert host.netns == "nimbus-host-hostb" and len(host.veth) <= 15


def test_hosts_added_are_found_by_their_folders(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    for name, index in (("b", 2), ("c", 3)):
        folder = tmp_path / "hosts" / name
        folder.mkdir(parents=True)
        (folder / "index").write_text(f"{index}\n")
    assert [(h.name, h.index) for h in hosts.local_hosts(settings)] == [("b", 2), ("c", 3)]
    assert hosts.local_host(settings, "c").index == 3
