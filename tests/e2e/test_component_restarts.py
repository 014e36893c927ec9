"""The components under the workflows die in the middle of an operation: the Temporal
server (SIGKILL; its history is in its database file and write-ahead log), libvirtd
(restarted; guests keep running) and the Ceph OSD (SIGKILL; I/O waits for it). Each comes
back, as ``nimbus up`` or the operator brings it back, and the operation in flight ends as
it would have, with nothing orphaned."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from launcher.services import process
from launcher.services.ceph import pid_name
from launcher.services.libvirtd import LibvirtdHandle, ensure_libvirtd, stop_libvirtd
from launcher.services.temporal import NAME as TEMPORAL
from nimbus.db import Database, Server, Volume
from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e


class Api:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.client = cloud.client()
        self.volumes = f"/volume/v3/{self.client.project_id}/volumes"

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.client.call(method, path, **kw)

    def boot(self, name: str) -> str:
        image = self.client.image_id("nimbus-guest")
        body = {"server": {"name": name, "flavorRef": "1", "imageRef": image}}
        response = self.call("POST", "/compute/v2.1/servers", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["server"]["id"])

    def server(self, server_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/compute/v2.1/servers/{server_id}")
        if response.status_code == 404:
            return {"status": "GONE"}
        return dict(response.json()["server"])

    def volume_from_image(self, name: str) -> str:
        image = self.client.image_id("nimbus-guest")
        body = {"volume": {"size": 1, "name": name, "imageRef": image}}
        response = self.call("POST", self.volumes, json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["volume"]["id"])

    def volume(self, volume_id: str) -> dict[str, Any]:
        response = self.call("GET", f"{self.volumes}/{volume_id}")
        if response.status_code == 404:
            return {"status": "GONE"}
        return dict(response.json()["volume"])


@pytest.fixture
def api(cloud: Cloud) -> Iterator[Api]:
    """The test's servers and volumes are gone before the next test shares the cloud."""
    api = Api(cloud)
    yield api
    _up(cloud)
    servers = api.call("GET", "/compute/v2.1/servers").json()["servers"]
    left = [s["id"] for s in servers if s["name"].startswith("restart-")]
    for server_id in left:
        api.call("DELETE", f"/compute/v2.1/servers/{server_id}")
    wait_for(lambda: all(api.server(s)["status"] == "GONE" for s in left), 300, "servers gone")
    volumes = api.call("GET", api.volumes).json()["volumes"]
    doomed = [v["id"] for v in volumes if (v.get("name") or "").startswith("restart-")]
    for volume_id in doomed:
        api.call("DELETE", f"{api.volumes}/{volume_id}")
    wait_for(lambda: all(api.volume(v)["status"] == "GONE" for v in doomed), 300, "volumes gone")


def _up(cloud: Cloud) -> None:
    """What an operator runs after a crash: ``nimbus up`` starts what is not running."""
    result = cloud.nimbus("up")
    assert result.returncode == 0, result.stderr


def _kill(cloud: Cloud, name: str) -> None:
    pid = process.running_pid(cloud.settings.run_dir, name)
    assert pid is not None, f"{name} is not running"
    os.kill(pid, signal.SIGKILL)
    assert process.wait_until(lambda: not process.is_running(pid), 10), f"{name} still runs"


def _no_orphans(cloud: Cloud) -> None:
    """Every domain and disk belongs to a live server; no server or volume is stuck."""
    with Database(cloud.settings.db_url).session() as s:
        live = {r.id: r for r in s.scalars(select(Server).where(Server.deleted_at.is_(None)))}
        stuck = [v.id for v in s.scalars(select(Volume)) if v.status in ("creating", "deleting")]
    prefix = cloud.settings.instance_prefix
    assert {d.removeprefix(prefix) for d in cloud.domains()} <= set(live)
    assert cloud.disks() <= set(live)
    assert [r.id for r in live.values() if r.status == "BUILD"] == []
    assert stuck == []


def _active(api: Api, server_id: str) -> None:
    wait_for(lambda: api.server(server_id)["status"] in ("ACTIVE", "ERROR"), 300, "the boot")
    server = api.server(server_id)
    assert server["status"] == "ACTIVE", server.get("fault")


def _journal_mode(database: Path) -> str:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def test_the_temporal_server_killed_during_a_boot(cloud: Cloud, api: Api) -> None:
    # Its commits go to a write-ahead log, synced at checkpoints (launcher/services/
    # temporal.py): a killed server must lose none of them.
    assert _journal_mode(cloud.settings.data_dir / "temporal.db") == "wal"
    server_id = api.boot("restart-temporal")
    wait_for(lambda: server_id in cloud.disks(), 60, "the root disk", interval=0.02)
    _kill(cloud, TEMPORAL)
    time.sleep(2)  # the workers and the API find it gone
    _up(cloud)
    _active(api, server_id)
    assert f"{cloud.settings.instance_prefix}{server_id}" in cloud.domains()
    _no_orphans(cloud)


def test_libvirtd_restarted_during_a_boot(cloud: Cloud, api: Api, libvirtd: LibvirtdHandle) -> None:
    if "libvirtd" not in libvirtd.started:
        pytest.skip("this machine's libvirtd was not started by the tests: not theirs to stop")
    server_id = api.boot("restart-libvirtd")
    wait_for(lambda: server_id in cloud.disks(), 60, "the root disk", interval=0.02)
    stop_libvirtd(libvirtd.run_dir)
    time.sleep(2)
    ensure_libvirtd(libvirtd.run_dir.parent / "log", libvirtd.run_dir)
    _active(api, server_id)
    assert f"{cloud.settings.instance_prefix}{server_id}" in cloud.domains()
    _no_orphans(cloud)


def test_the_ceph_osd_killed_under_a_copy_of_an_image_into_a_volume(cloud: Cloud, api: Api) -> None:
    _kill(cloud, pid_name("osd"))
    volume_id = api.volume_from_image("restart-osd")
    time.sleep(3)
    assert api.volume(volume_id)["status"] == "creating"  # its I/O waits for the OSD
    _up(cloud)
    wait_for(lambda: api.volume(volume_id)["status"] != "creating", 300, "the volume")
    assert api.volume(volume_id)["status"] == "available"
    _no_orphans(cloud)
