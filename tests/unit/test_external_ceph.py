from __future__ import annotations

from pathlib import Path

import pytest

from launcher.services import cloud
from nimbus.config import Settings, load_settings


def test_an_external_cluster_is_used_as_configured() -> None:
    s = load_settings(
        {
            "NIMBUS_CEPH_CONF": "/etc/ceph/ceph.conf",
            "NIMBUS_CEPH_KEYRING": "/etc/ceph/ceph.client.nimbus.keyring",
            "NIMBUS_CEPH_CLIENT": "nimbus",
        }
    )
    assert not s.own_ceph
    assert (s.ceph_conf_path, s.ceph_keyring_path, s.ceph_client) == (
        "/etc/ceph/ceph.conf",
        "/etc/ceph/ceph.client.nimbus.keyring",
        "nimbus",
    )


def test_nimbus_runs_its_own_cluster_in_the_data_directory_by_default() -> None:
    s = Settings(data_dir=Path("/srv/nimbus"))
    assert s.own_ceph and s.ceph_conf_path == "/srv/nimbus/ceph/ceph.conf"
    assert s.ceph_keyring_path == "/srv/nimbus/ceph/ceph.client.admin.keyring"


def test_up_starts_no_cluster_when_one_is_configured(capsys: pytest.CaptureFixture[str]) -> None:
    cloud._start_ceph(Settings(ceph_conf="/etc/ceph/ceph.conf"))
    assert "using the cluster of /etc/ceph/ceph.conf" in capsys.readouterr().out
