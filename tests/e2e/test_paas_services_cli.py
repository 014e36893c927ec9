"""Services for real: ``nimbus service create object-storage`` makes a bucket on the cloud's
RADOS Gateway, ``nimbus app bind`` gives it to the bucket sample, whose instance (a real
guest) signs S3 requests with the credentials it got from ``VCAP_SERVICES`` and reaches
the gateway through the router's listener in its own network. Its notes outlive a restart
of every instance, and the key pair is in no workflow history and no log of the cloud.
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

SAMPLE = CHECKOUT / "paas" / "samples" / "bucket-app"
APP, HOST = "bucket-sample", "bucket-sample.apps.localhost"


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


def test_an_app_bound_to_object_storage_keeps_its_notes_and_no_one_sees_its_keys(
    cloud: Cloud,
) -> None:
    began = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    out = ok(cloud.nimbus("service", "create", "object-storage", "notes"))
    assert "Service notes is available" in out
    ok(cloud.nimbus("app", "push", str(SAMPLE), timeout=900))
    try:
        assert says(cloud, "bound to: nothing")
        out = ok(cloud.nimbus("app", "bind", APP, "notes"))
        assert f"nimbus app restart {APP}" in out
        ok(cloud.nimbus("app", "restart", APP))
        wait_for(lambda: says(cloud, "bound to: notes"), 300, "the instance bound to notes")

        assert call(cloud, "PUT", "/notes/first", b"kept in the bucket") == (201, "stored first\n")
        assert call(cloud, "GET", "/notes/first") == (200, "kept in the bucket")
        before = serving(cloud)
        ok(cloud.nimbus("app", "restart", APP))
        wait_for(lambda: serving(cloud) - before, 300, "a new instance running")
        wait_for(lambda: says(cloud, "bound to: notes"), 120, "the new instance answering")
        assert call(cloud, "GET", "/notes/first") == (200, "kept in the bucket")

        refused = cloud.nimbus("service", "delete", "notes")
        assert refused.returncode == 1 and f"bound to {APP}" in refused.stderr
        listed = ok(cloud.nimbus("service", "list"))
        assert "notes" in listed and APP in listed

        with Database(cloud.settings.db_url).session() as s:
            row = s.scalars(select(ServiceInstance).where(ServiceInstance.name == "notes")).one()
            creds = dict(row.credentials or {})
        secrets = (creds["access_key_id"], creds["secret_access_key"])
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
    finally:
        cloud.nimbus("app", "unbind", APP, "notes")
        cloud.nimbus("app", "delete", APP)
        cloud.nimbus("service", "delete", "notes")
    shown = cloud.nimbus("service", "show", "notes")
    assert shown.returncode == 1 and "not found" in shown.stderr
