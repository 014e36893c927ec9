"""SIGKILL the worker in the middle of a boot and of a delete: the operation still ends
cleanly once a worker is back, and nothing is left orphaned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from nimbus.db import Database, Server
from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e


class Api:
    """The compute calls these tests make, through the cloud's admin client."""

    def __init__(self, cloud: Cloud) -> None:
        self.client = cloud.client()

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.client.call(method, f"/compute/v2.1{path}", **kw)

    def create(self, name: str) -> str:
        image = self.client.image_id("nimbus-guest")
        body = {"server": {"name": name, "flavorRef": "1", "imageRef": image}}
        response = self.call("POST", "/servers", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["server"]["id"])

    def status(self, server_id: str) -> str:
        response = self.call("GET", f"/servers/{server_id}")
        return "GONE" if response.status_code == 404 else str(response.json()["server"]["status"])


def _restart_worker(cloud: Cloud) -> None:
    result = cloud.nimbus("up")
    assert result.returncode == 0, result.stderr
    assert cloud.worker_pid() is not None


def _assert_no_orphans(cloud: Cloud) -> None:
    """Every domain and disk belongs to a live server row; no row is stuck in BUILD."""
    with Database(cloud.settings.db_url).session() as s:
        live = {r.id: r for r in s.scalars(select(Server).where(Server.deleted_at.is_(None)))}
    prefix = cloud.settings.instance_prefix
    assert {d.removeprefix(prefix) for d in cloud.domains()} <= set(live)
    assert cloud.disks() <= set(live)
    assert [r.id for r in live.values() if r.status == "BUILD"] == []


@pytest.fixture(autouse=True)
def _no_server_left(cloud: Cloud) -> Iterator[None]:
    """Whatever a test's outcome, its servers are gone before the next test shares the
    cloud (a worker left dead is started again first)."""
    yield
    if cloud.worker_pid() is None:
        _restart_worker(cloud)
    api = Api(cloud)
    listed = api.call("GET", "/servers").json()["servers"]
    left = [s["id"] for s in listed if s["name"].startswith("crash-")]
    for server_id in left:
        api.call("DELETE", f"/servers/{server_id}")
    wait_for(lambda: all(api.status(s) == "GONE" for s in left), 300, "leftover servers gone")


#: Out of CI until a known bug is fixed: a worker SIGKILLed in the middle of the root
#: disk's clone can leave a live watcher on the disk, so that the server boots but its
#: delete finds the disk busy for good. Reproduced with the machine under load (three
#: CPU burners beside this test, one run in three); the killed clone itself is covered by
#: tests/integration/test_rbd_killed_clone.py. ``make crash-matrix`` still runs it.
@pytest.mark.long
def test_worker_killed_during_boot_still_ends_active(cloud: Cloud) -> None:
    api = Api(cloud)
    server_id = api.create("crash-boot")
    wait_for(lambda: server_id in cloud.disks(), 60, "the root disk", interval=0.02)
    cloud.kill_worker()
    _restart_worker(cloud)
    wait_for(lambda: api.status(server_id) in ("ACTIVE", "ERROR"), 180, "boot to settle")
    server = api.call("GET", f"/servers/{server_id}").json()["server"]
    assert server["status"] == "ACTIVE", server.get("fault")
    assert f"{cloud.settings.instance_prefix}{server_id}" in cloud.domains()
    _assert_no_orphans(cloud)
    assert api.call("DELETE", f"/servers/{server_id}").status_code == 204
    wait_for(lambda: api.status(server_id) == "GONE", 300, "delete")
    _assert_no_orphans(cloud)


def test_worker_killed_during_delete_still_removes_everything(cloud: Cloud) -> None:
    api = Api(cloud)
    server_id = api.create("crash-delete")
    wait_for(lambda: api.status(server_id) == "ACTIVE", 180, "ACTIVE")
    domain = f"{cloud.settings.instance_prefix}{server_id}"
    assert api.call("DELETE", f"/servers/{server_id}").status_code == 204
    cloud.kill_worker()
    assert api.status(server_id) == "ACTIVE"  # still there: the delete was cut short
    _restart_worker(cloud)
    wait_for(lambda: api.status(server_id) == "GONE", 180, "delete to finish")
    assert domain not in cloud.domains() and server_id not in cloud.disks()
    _assert_no_orphans(cloud)
