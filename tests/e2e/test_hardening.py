"""A cloud started with ``nimbus up``, hardened: the API and the dashboard answer over
HTTPS with a certificate of the cloud's own CA, which clouds.yaml (so the openstack CLI)
trusts, and their catalog says https; every file holding a secret is root's
alone (0600, made so) in a data folder only root enters; no secret is in a log file or in
the history of a workflow the cloud ran (``conftest.py`` looks again once every end-to-end
test has run); the consoles without a login of their own listen on loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import yaml

from nimbus.client import password_auth
from nimbus.private import is_private
from tests.support.cloud import Cloud
from tests.support.leaks import cloud_leaks

pytestmark = pytest.mark.e2e

#: The files ``nimbus up`` writes that hold a secret, in the data folder.
SECRET_FILES = (
    "clouds.yaml",
    "rgw-keystone.secret",
    "rgw-keystone.token",
    "paas-service.secret",
    "nimbus.db",
    "temporal.db",
    "ceph/ceph.client.admin.keyring",
    "ceph/daemons.keyring",
    "ceph/ceph.client.rgw.nimbus.keyring",
    "ceph/rgw.conf",
    "ceph/mon.a/keyring",
    "tls/ca.key",
    "tls/server.key",
)


def test_every_file_holding_a_secret_is_roots_alone(cloud: Cloud) -> None:
    data = cloud.settings.data_dir
    assert is_private(data)
    named = [data / name for name in SECRET_FILES]
    assert [str(p) for p in named if not p.exists()] == []
    databases = [*data.glob("nimbus.db*"), *data.glob("temporal.db*")]
    ceph = [p for p in (data / "ceph").rglob("*") if p.is_file() and not p.is_symlink()]
    assert [str(p) for p in {*named, *databases, *ceph} if not is_private(p)] == []


def test_no_log_line_or_history_holds_a_secret(cloud: Cloud) -> None:
    """After an EC2 credential, an application credential and a wrong password: none of
    them, nor any secret the cloud holds, is in its logs or its workflows' histories."""
    ec2 = cloud.openstack_json("ec2", "credentials", "create")
    made = cloud.openstack_json("application", "credential", "create", "leak-check")
    guess = "not-the-admins-password-5e1c"
    auth_url = f"{cloud.url}/identity/v3/auth/tokens"
    body = password_auth("admin", guess, "admin")
    wrong = requests.post(auth_url, json=body, timeout=30, verify=cloud.verify)
    assert wrong.status_code == 401
    more = {
        "a wrong password": guess,
        "the application credential's secret": made["Secret"],
        "the admin's token": cloud.client().token,
        "the new EC2 secret": ec2["secret"],
    }
    assert cloud_leaks(cloud.settings, more) == []


def _listening(port: int) -> set[str]:
    """The addresses a TCP socket listens on at ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_temporal_ui_and_prometheus_listen_on_loopback_only(cloud: Cloud) -> None:
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    settings = cloud.settings
    for port in (settings.temporal_ui_port, settings.prometheus_port, settings.alertmanager_port):
        assert _listening(port) and _listening(port) <= loopback, port


def test_the_api_and_the_dashboard_speak_https_with_the_clouds_own_ca(cloud: Cloud) -> None:
    settings = cloud.settings
    assert cloud.url.startswith("https://") and settings.dashboard_url.startswith("https://")
    for url in (f"{cloud.url}/identity/v3", f"{settings.dashboard_url}/health"):
        assert requests.get(url, timeout=10, verify=cloud.verify).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):  # the system's CAs do not know it
            requests.get(url, timeout=10)
    plain = cloud.url.replace("https://", "http://") + "/identity/v3"
    with pytest.raises(requests.exceptions.ConnectionError):  # no plain HTTP on its port
        requests.get(plain, timeout=10)
    clouds = yaml.safe_load((settings.data_dir / "clouds.yaml").read_text())["clouds"]
    assert clouds["nimbus"]["cacert"] == str(settings.tls_ca_cert)


def test_the_catalog_the_openstack_cli_follows_is_https(cloud: Cloud) -> None:
    catalog = cloud.client().call("GET", "/identity/v3/auth/catalog").json()["catalog"]
    port = f":{cloud.settings.api_port}/"
    ours = [e["url"] for s in catalog for e in s["endpoints"] if port in e["url"]]
    assert ours and all(url.startswith("https://") for url in ours)
    assert cloud.openstack("catalog", "list").returncode == 0
