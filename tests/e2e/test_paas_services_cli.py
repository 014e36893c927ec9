"""Services for real: ``nimbus service create object-storage`` makes a bucket on the cloud's
RADOS Gateway, ``nimbus service create postgresql`` a database server (a guest booted from
Debian's PostgreSQL, its data on a Cinder volume), and ``nimbus app bind`` gives both to
the notes sample. Its instance (a real guest) signs S3 requests with the credentials it got
from ``VCAP_SERVICES``, reaching the gateway through the router's listener in its own
network, and logs in to the database across the app network. Its notes outlive a redeploy
and a restart of every instance, and no secret is in any workflow history or log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client

from nimbus.config import CHECKOUT
from nimbus.db import Database
from nimbus.db_paas import ServiceInstance
from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e

SAMPLE = CHECKOUT / "paas" / "samples" / "notes-app"
APP, HOST = "notes-sample", "notes-sample.apps.localhost"
#: A first boot of the database server under TCG formats its volume and makes the cluster.
DATABASE_WAIT = 1500


def ok(result: Any) -> str:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return str(result.stdout)


def call(cloud: Cloud, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
    """A request to the app through the router, with its host name."""
    port = cloud.settings.router_port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=body or None, headers={"Host": f"{HOST}:{port}"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def says(cloud: Cloud, text: str) -> bool:
    try:
        status, body = call(cloud, "GET", "/")
    except OSError:
        return False
    return status == 200 and text in body


def serving(cloud: Cloud) -> set[str]:
    """The servers of the app's RUNNING instances."""
    shown = json.loads(ok(cloud.nimbus("app", "show", APP, "--json")))
    return {i["server_id"] for i in shown["instance_states"] if i["state"] == "RUNNING"}


def histories_since(cloud: Cloud, since: dt.datetime) -> list[str]:
    """Every workflow history the cloud's Temporal holds of runs started since ``since``:
    what its web UI shows."""

    async def fetch() -> list[str]:
        client = await Client.connect(cloud.settings.temporal_address)
        stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        texts = []
        async for wf in client.list_workflows(f'StartTime > "{stamp}"'):
            handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
            texts.append((await handle.fetch_history()).to_json())
        return texts

    return asyncio.run(fetch())


def reads_back(cloud: Cloud, name: str, text: str) -> None:
    assert call(cloud, "GET", f"/notes/{name}") == (200, text)
    assert call(cloud, "GET", f"/rows/{name}") == (200, text)


def replaced(cloud: Cloud, before: set[str]) -> bool:
    """Every instance serving now is new."""
    now = serving(cloud)
    return bool(now) and not now & before


def secrets_of(cloud: Cloud) -> list[str]:
    with Database(cloud.settings.db_url).session() as s:
        rows = s.scalars(select(ServiceInstance)).all()
        creds = {row.name: dict(row.credentials or {}) for row in rows}
    notes, db = creds["notes"], creds["db"]
    return [notes["access_key_id"], notes["secret_access_key"], db["password"]]


def test_an_app_bound_to_a_bucket_and_a_database_keeps_its_notes_and_no_one_sees_a_secret(
    cloud: Cloud,
) -> None:
    began = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    out = ok(cloud.nimbus("service", "create", "object-storage", "notes"))
    assert "Service notes is available" in out
    out = ok(cloud.nimbus("service", "create", "postgresql", "db", timeout=DATABASE_WAIT))
    assert "Service db is available" in out
    resources = json.loads(ok(cloud.nimbus("service", "show", "db", "--json")))["resources"]
    server = cloud.openstack_json("server", "show", resources["server_id"])
    assert server["status"] == "ACTIVE"
    volume = cloud.openstack_json("volume", "show", resources["volume_id"])
    assert volume["status"] == "in-use"
    ok(cloud.nimbus("app", "push", str(SAMPLE), timeout=900))
    try:
        assert says(cloud, "bound to: nothing")
        for service in ("notes", "db"):
            out = ok(cloud.nimbus("app", "bind", APP, service))
            assert f"nimbus app restart {APP}" in out
        ok(cloud.nimbus("app", "restart", APP))
        wait_for(lambda: says(cloud, "bound to: db, notes"), 300, "the instance bound to both")

        stored = call(cloud, "PUT", "/notes/first", b"kept in both")
        assert stored == (201, "stored first in the bucket and the database\n")
        reads_back(cloud, "first", "kept in both")

        before = serving(cloud)
        ok(cloud.nimbus("app", "push", str(SAMPLE), timeout=900))  # a redeploy: new release
        wait_for(lambda: replaced(cloud, before), 300, "the redeployed instance running")
        wait_for(lambda: says(cloud, "bound to: db, notes"), 120, "the redeployed instance")
        reads_back(cloud, "first", "kept in both")
        before = serving(cloud)
        ok(cloud.nimbus("app", "restart", APP))
        wait_for(lambda: replaced(cloud, before), 300, "a restarted instance running")
        wait_for(lambda: says(cloud, "bound to: db, notes"), 120, "the restarted instance")
        reads_back(cloud, "first", "kept in both")

        for service in ("notes", "db"):
            refused = cloud.nimbus("service", "delete", service)
            assert refused.returncode == 1 and f"bound to {APP}" in refused.stderr
        listed = ok(cloud.nimbus("service", "list"))
        assert "notes" in listed and "db" in listed and APP in listed

        secrets = secrets_of(cloud)
        texts = histories_since(cloud, began)
        assert any("CreateService" in text for text in texts)
        assert not [t for t in texts if any(secret in t for secret in secrets)]
        for path in cloud.settings.log_dir.rglob("*"):
            if path.is_file():
                text = path.read_text(errors="replace")
                assert not any(secret in text for secret in secrets), path
        app_log = ok(cloud.nimbus("app", "logs", APP, "--recent", "-n", "1000"))
        assert "PUT /notes/first" in app_log
        assert not any(secret in app_log for secret in secrets)
        console = ok(cloud.openstack("console", "log", "show", resources["server_id"]))
        assert "NIMBUS POSTGRESQL READY" in console
        assert not any(secret in console for secret in secrets)
    finally:
        for service in ("notes", "db"):
            cloud.nimbus("app", "unbind", APP, service)
        cloud.nimbus("app", "delete", APP)
        for service in ("notes", "db"):
            cloud.nimbus("service", "delete", service, timeout=DATABASE_WAIT)
    for service in ("notes", "db"):
        shown = cloud.nimbus("service", "show", service)
        assert shown.returncode == 1 and "not found" in shown.stderr
    for kind, key in (("server", "server_id"), ("volume", "volume_id")):
        wait_for(
            lambda kind=kind, key=key: cloud.openstack(kind, "show", resources[key]).returncode,
            120,
            f"the database {kind} gone",
        )
