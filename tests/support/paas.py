"""A control plane with the PaaS layer over fake drivers: the API served over HTTP on a
loopback port (the PaaS worker is a client of it), a fake router and droplet writer."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from temporalio.worker import Interceptor
from werkzeug.serving import make_server

from activities.hypervisor.fake import FakeHypervisor
from activities.network.fake import FakeNetworkDriver
from activities.objectstore.fake import FakeObjectStoreAdmin
from activities.storage.fake_block import FakeBlockStore
from launcher.drivers import HostDrivers
from nimbus.config import Settings
from nimbus.db import Base
from paas.droplets import FakeDropletWriter
from paas.package import sha256_file
from paas.router.fake import FakeRouter
from tests.support.stack import Stack, make_stack
from tests.support.temporal_server import free_port

STATIC_SITE = {"index.html": "<h1>hello from a static site</h1>\n"}

#: Every PaaS table: what a refused request must leave as it was.
PAAS_TABLES = [t for t in Base.metadata.sorted_tables if t.name.startswith("paas_")]


def h(stack: Stack, user: str = "alice") -> dict[str, str]:
    """The headers of a request as a seeded user."""
    return {"X-Auth-Token": stack.token(user)}


def rows(stack: Stack) -> dict[str, list[str]]:
    """Every row of every PaaS table, comparable before and after a request."""
    with stack.db.session() as s:
        return {
            t.name: sorted(json.dumps(list(r), default=str) for r in s.execute(select(t)).all())
            for t in PAAS_TABLES
        }


@contextmanager
def served(app: Flask, port: int) -> Iterator[None]:
    """The app on 127.0.0.1:``port`` in a thread, shut down afterwards."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(10)


@contextmanager
def paas_stack(
    settings: Settings, image_file: Path, ceph: Any, interceptors: Sequence[Interceptor] = ()
) -> Iterator[Stack]:
    """A Stack whose API is also served over HTTP, with a fast supervisor."""
    settings = dataclasses.replace(
        settings,
        api_port=free_port(),
        paas_tick_seconds=0.3,
        paas_backoff_first=1.0,
        paas_backoff_cap=2.0,
        paas_liveness_grace=1.0,
        paas_drain_seconds=0.3,
    )
    drivers = HostDrivers(
        FakeHypervisor(ceph=ceph),
        FakeBlockStore(),
        FakeNetworkDriver(),
        FakeObjectStoreAdmin(),
        FakeRouter(),
        FakeDropletWriter(),
    )
    stack = make_stack(settings, drivers, image_file, interceptors)
    try:
        with served(stack.client.application, settings.api_port):
            yield stack
    finally:
        stack.bridge.run(end_supervisors)
        stack.close()


@pytest.fixture
def stack(settings: Settings, image_file: Path) -> Iterator[Stack]:
    """A PaaS stack over fake drivers; a test module takes it (and ``alice``) with
    ``from tests.support.paas import alice, stack``."""
    from tests.conftest import FAKE_CEPH

    with paas_stack(settings, image_file, FAKE_CEPH) as s:
        yield s


@pytest.fixture(scope="module")
def module_stack(
    tmp_path_factory: pytest.TempPathFactory, temporal_address: str, database_cluster: Any
) -> Iterator[Stack]:
    """One PaaS stack for a whole module, for tests that change nothing in it (each must
    check so)."""
    from tests.conftest import FAKE_CEPH, stack_settings, write_image_file
    from tests.support.postgres import database_for

    folder = tmp_path_factory.mktemp("paas")
    with database_for(database_cluster, folder) as url:
        settings = stack_settings(folder, temporal_address, url)
        with paas_stack(settings, write_image_file(folder), FAKE_CEPH) as s:
            yield s


@pytest.fixture
def alice(stack: Stack) -> PaasUser:
    return PaasUser(stack, "alice")


async def end_supervisors(client: Any) -> None:
    """Terminate every running app supervisor: they never end by themselves, and the next
    test's worker (same Temporal server, same queues) would pick them up. When histories
    are being recorded (scripts/record-histories), the first running supervisor's history
    is kept as ``AppSupervisor-running.json``: supervisors rarely end, so this is the
    history an upgrade meets."""
    query = 'WorkflowType="AppSupervisor" AND ExecutionStatus="Running"'
    record_to = os.environ.get("NIMBUS_RECORD_HISTORIES")
    async for wf in client.list_workflows(query):
        handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
        if record_to and not (path := Path(record_to) / "AppSupervisor-running.json").exists():
            path.write_text((await handle.fetch_history()).to_json())
        await handle.terminate("test ended")


def package_bytes(files: dict[str, str]) -> bytes:
    """A tar.gz of ``files`` (name -> text), as ``nimbus app push`` uploads."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class PaasUser:
    """A user's calls to ``/paas/v1`` through the test client."""

    def __init__(self, stack: Stack, user: str) -> None:
        self.stack = stack
        self.h = {"X-Auth-Token": stack.token(user)}

    def call(self, method: str, path: str, **kw: Any) -> Any:
        return self.stack.client.open(f"/paas/v1{path}", method=method, headers=self.h, **kw)

    def upload(self, tmp: Path, files: dict[str, str]) -> str:
        archive = tmp / "pkg.tgz"
        archive.write_bytes(package_bytes(files))
        sha = sha256_file(archive)
        r = self.call(
            "PUT",
            f"/packages/{sha}",
            data=archive.read_bytes(),
            content_type="application/octet-stream",
        )
        assert r.status_code in (200, 201), r.json
        return sha

    def app(self, app_id: str) -> dict[str, Any]:
        r = self.call("GET", f"/apps/{app_id}")
        assert r.status_code == 200, r.json
        return dict(r.json["app"])

    def wait_app(
        self, app_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        app = self.app(app_id)
        while not check(app):
            if time.monotonic() > deadline:
                raise AssertionError(f"app never got there: {app}")
            time.sleep(0.1)
            app = self.app(app_id)
        return app

    def push(self, tmp: Path, name: str, files: dict[str, str], **fields: Any) -> dict[str, Any]:
        """Create the app, upload, stage, release: what ``nimbus app push`` does."""
        r = self.call("POST", "/apps", json={"app": {"name": name, **fields}})
        assert r.status_code == 201, r.json
        app_id = r.json["app"]["id"]
        build = self.stage(tmp, app_id, files)
        assert build["state"] == "STAGED", build
        r = self.call("POST", f"/apps/{app_id}/releases", json={"build_id": build["id"]})
        assert r.status_code == 201, r.json
        return dict(r.json["app"])

    def stage(self, tmp: Path, app_id: str, files: dict[str, str]) -> dict[str, Any]:
        sha = self.upload(tmp, files)
        r = self.call("POST", f"/apps/{app_id}/builds", json={"package": sha})
        assert r.status_code == 202, r.json
        build_id = r.json["build"]["id"]
        deadline = time.monotonic() + 60
        while True:
            build = self.call("GET", f"/apps/{app_id}/builds/{build_id}").json["build"]
            if build["state"] != "STAGING" or time.monotonic() > deadline:
                return dict(build)
            time.sleep(0.1)


class Guest(threading.Thread):
    """Prints ``line`` on the console of every fake domain once a disk whose serial is a
    volume's is attached to it."""

    def __init__(self, stack: Stack, line: str) -> None:
        super().__init__(daemon=True)
        self.hv, self.line, self.done = stack.hypervisor, line, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            with self.hv._lock:
                for domain in self.hv.domains.values():
                    attached = any(d.serial and d.target != "vda" for d in domain.disks)
                    if attached and self.line not in domain.console:
                        domain.console += self.line + "\n"
