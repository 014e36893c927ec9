"""A Nimbus control plane in one test process: database, worker thread, API client.

The worker runs the real workflows and activities on a real Temporal server, over the
in-memory fake drivers (or any others the test passes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Interceptor
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import _Definition

from activities.image_records import ImageRecords, MarkImageActiveInput
from activities.images import ImageActivities, ImageRef, ImportImageInput, StagingRef
from api import create_app
from api.bridge import TemporalBridge
from launcher import bootstrap
from launcher.drivers import HostDrivers
from launcher.hostagent import HostAgent
from launcher.worker import SANDBOX_RESTRICTIONS, compile_workflows
from launcher.worker import run as run_worker
from nimbus import migrate, temporal
from nimbus.client import password_auth
from nimbus.config import Settings
from nimbus.db import Database, Image, Server
from workflows import starter


class ValidatedOnceRunner(SandboxedWorkflowRunner):
    """The worker's sandbox, which checks each workflow definition once per test process
    rather than once per worker: the check (a sandboxed instance of every workflow) cost
    each of the suite's hundreds of workers 0.4 s, and its answer cannot change within a
    process. Workflows still run, and are replayed, in the same sandbox as in the cloud."""

    _validated: ClassVar[set[type]] = set()

    def prepare_workflow(self, defn: _Definition) -> None:
        if defn.cls not in self._validated:
            super().prepare_workflow(defn)
            self._validated.add(defn.cls)


#: One for every worker the tests start in this process.
compile_workflows()
TEST_RUNNER = ValidatedOnceRunner(restrictions=SANDBOX_RESTRICTIONS)


class WorkerThread:
    """``launcher.worker.run`` on its own event loop in a background thread."""

    def __init__(
        self,
        settings: Settings,
        drivers: HostDrivers,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.args = (settings, drivers)
        self.interceptors = interceptors
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self.error: BaseException | None = None

    def _main(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            await run_worker(
                *self.args, self._stop, interceptors=self.interceptors, runner=TEST_RUNNER
            )

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc
            self._ready.set()

    def start(self) -> WorkerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self.error is not None:
            raise self.error


@dataclass
class Users:
    """Credentials of the seeded users: name -> (password, project name)."""

    passwords: dict[str, str] = field(default_factory=dict)


def seed(db: Database) -> dict[str, str]:
    """Schema, flavors, an admin, a member and a reader (each ``<name>-secret``). A
    database already at the newest revision (a copy of ``_schema_template``, a leased
    PostgreSQL one) is not migrated again: loading the migrations cost each test 80 ms."""
    if migrate.current(db.engine) != _head():
        db.create_schema()
    bootstrap.ensure_flavors(db)
    passwords = {}
    for name, project, role in (
        ("admin", "admin", "admin"),
        ("alice", "demo", "member"),
        ("rita", "demo", "reader"),
        ("bob", "other", "member"),
    ):
        _, _, password = bootstrap.ensure_user(db, name, project, role, f"{name}-secret")
        passwords[name] = password or ""
    return passwords


@functools.cache
def _head() -> str:
    return migrate.head()


#: This process's SQLite database with the schema and no rows, made once: a test's new
#: SQLite database starts as a copy of it (making the schema cost each test 100 ms). It is
#: made in ``schema_folder`` (the tests' session sets one), else beside the first copy.
_schema_file: Path | None = None
schema_folder: Path | None = None


def _schema_template(beside: Path) -> Path:
    global _schema_file
    if _schema_file is None or not _schema_file.exists():
        folder = schema_folder or beside.parent
        template = folder / f"schema-{uuid.uuid4().hex}.db"
        db = Database(f"sqlite:///{template}")
        db.create_schema()
        db.engine.dispose()
        _schema_file = template
    return _schema_file


def database_at(url: str) -> Database:
    """The database at ``url``; a SQLite file not made yet starts with the schema."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        if not path.exists():
            with (
                contextlib.closing(sqlite3.connect(_schema_template(path))) as source,
                contextlib.closing(sqlite3.connect(path)) as copy,
            ):
                source.backup(copy)
    return Database(url)


def import_default_image(
    stack: Stack, image_file: Path, name: str = bootstrap.DEFAULT_IMAGE, workflow: bool = False
) -> None:
    """A built-in image (the default one unless ``name`` says), staged as ``nimbus up``
    does, then imported by the ImportImage workflow's activities run here, one after
    another (``workflow``: through the workflow itself, as ``nimbus up`` does). The
    workflow has tests of its own; running it for every test's stack cost each 0.3 s."""
    owner = bootstrap.admin_project_id(stack.db)
    image_id = bootstrap.stage_default_image(stack.db, stack.settings, image_file, owner, name)
    assert image_id is not None
    staged = str(stack.settings.staging_dir / image_id)
    if workflow:
        host = stack.settings.host_name
        stack.bridge.run(lambda c: starter.import_image(c, owner, image_id, staged, host, "raw"))
        return
    env, images = ActivityEnvironment(), ImageActivities(stack.drivers.store)
    stored = env.run(images.import_image, ImportImageInput(image_id, staged, "raw"))
    env.run(images.protect_image, ImageRef(image_id))
    active = MarkImageActiveInput(image_id, stored.virtual_size, stored.md5, stored.sha256)
    ImageRecords(stack.db).mark_image_active(active)
    env.run(images.remove_staging, StagingRef(staged))


@dataclass
class Stack:
    settings: Settings
    db: Database
    bridge: TemporalBridge
    client: FlaskClient
    drivers: HostDrivers
    worker: WorkerThread

    @property
    def hypervisor(self) -> Any:
        return self.drivers.hypervisor

    @property
    def store(self) -> Any:
        return self.drivers.store

    def token(self, user: str, project: str | None = None) -> str:
        """A token for a seeded user, scoped to its own project unless told otherwise."""
        project = (
            project or {"admin": "admin", "alice": "demo", "rita": "demo", "bob": "other"}[user]
        )
        body = password_auth(user, f"{user}-secret", project)
        response = self.client.post("/identity/v3/auth/tokens", json=body)
        assert response.status_code == 201, response.json
        return str(response.headers["X-Subject-Token"])

    def token_info(self, token: str) -> dict[str, Any]:
        """What identity says of a token: its user, project and roles (``token`` body)."""
        headers = {"X-Auth-Token": token, "X-Subject-Token": token}
        response = self.client.get("/identity/v3/auth/tokens", headers=headers)
        assert response.status_code == 200, response.json
        return dict(response.json["token"])

    def image_id(self) -> str:
        with self.db.session() as s:
            image = s.query(Image).filter_by(name=bootstrap.DEFAULT_IMAGE).one()
            return image.id

    def server(self, server_id: str) -> Server | None:
        with self.db.session() as s:
            return s.get(Server, server_id)

    def wait_server(
        self, server_id: str, check: Callable[[Server | None], bool], timeout: float = 30
    ) -> Server | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.server(server_id)
            if check(row):
                return row
            time.sleep(0.05)
        raise AssertionError(f"server {server_id} never got there; last: {self.server(server_id)}")

    def finish(self, workflow_id: str, timeout: float = 60) -> Any:
        """Wait for a workflow to close; return its result, or the error it failed with."""

        async def result(client: Any) -> Any:
            try:
                return await client.get_workflow_handle(workflow_id).result()
            except Exception as exc:  # noqa: BLE001 - the caller inspects it
                return exc

        return self.bridge.run(result, timeout=timeout)

    def history(self, workflow_id: str) -> str:
        """What a workflow's activities returned and failed with, as text, one line
        each: what the Temporal UI shows of its history."""

        async def text(client: Any) -> str:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            lines = []
            for event in history.events:
                if event.HasField("activity_task_completed_event_attributes"):
                    payloads = event.activity_task_completed_event_attributes.result.payloads
                    lines += [p.data.decode() for p in payloads]
                if event.HasField("activity_task_failed_event_attributes"):
                    lines.append(_failure(event.activity_task_failed_event_attributes.failure))
                if event.HasField("marker_recorded_event_attributes"):  # a local activity
                    marker = event.marker_recorded_event_attributes
                    if "result" in marker.details:
                        lines += [p.data.decode() for p in marker.details["result"].payloads]
                    if marker.HasField("failure"):
                        lines.append(_failure(marker.failure))
            return "\n".join(lines)

        return str(self.bridge.run(text))

    def scheduled(self, workflow_id: str) -> list[str]:
        """The activities a workflow scheduled (local ones aside), in order."""

        async def names(client: Any) -> list[str]:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            return [
                event.activity_task_scheduled_event_attributes.activity_type.name
                for event in history.events
                if event.HasField("activity_task_scheduled_event_attributes")
            ]

        return list(self.bridge.run(names))

    def stop_worker(self, wait: float = 5) -> None:
        """Stop the worker once its host's network reconcile is closed (waiting at most
        ``wait`` seconds). A task the server handed to a stopping worker is lost until
        its timeout (10 seconds for a workflow task; the SDK ends its polls as it stops),
        and the reconcile the worker's agent started as it began is often still running
        when a short test ends: the next worker's agent joins that open run (the id is
        the host's), and waited for the lost task's timeout."""
        self.settle_host_sync(wait)
        self.worker.stop()

    @property
    def _host_sync_id(self) -> str:
        """The workflow id of this host's network reconcile (``starter.sync_host_networks``)."""
        return f"host-{self.settings.host_name}-network-sync"

    def close(self) -> None:
        """End the test's stack: its host's network reconcile, if a run is still open,
        is terminated rather than waited for (``stop_worker`` waits, which cost a short
        test 50 to 150 ms), so that the next test's worker starts a run of its own
        instead of joining this one; then the worker stops and the bridge closes."""
        workflow_id = self._host_sync_id

        async def terminate(client: Any) -> None:
            with contextlib.suppress(RPCError):  # closed already, or never started
                await client.get_workflow_handle(workflow_id).terminate("the test ended")

        self.bridge.run(terminate)
        self.worker.stop()
        self.bridge.close()

    def settle_host_sync(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for no run of this host's reconcile to be open."""
        deadline = time.monotonic() + wait
        while self._host_sync_closed() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def _host_sync_closed(self) -> float | None:
        """When the last run of this host's ``SyncHostNetworks`` closed (epoch seconds):
        None while a run is open, minus infinity if none ever ran."""
        workflow_id = self._host_sync_id

        async def closed(client: Any) -> float | None:
            try:
                described = await client.get_workflow_handle(workflow_id).describe()
            except RPCError:
                return -math.inf
            return None if described.close_time is None else described.close_time.timestamp()

        result: float | None = self.bridge.run(closed)
        return result

    def restart_worker(self, interceptors: Sequence[Interceptor] = ()) -> None:
        """A new worker; returns once its host agent's network reconcile has run, so that
        the reconcile never interleaves with the operation the test starts next."""
        self.stop_worker()
        began = time.time()
        self.worker = WorkerThread(self.settings, self.drivers, interceptors).start()
        self.wait_host_sync(began)

    def wait_host_sync(self, since: float, timeout: float = 30) -> None:
        """Wait for a run of this host's ``SyncHostNetworks`` that closed after ``since``.

        Its close, not its start: a worker stopped while its first reconcile ran leaves
        that run open, and the new worker's agent joins it (the start reuses a running
        id) rather than starting another; only the new worker can close it."""
        deadline = time.monotonic() + timeout
        while (closed := self._host_sync_closed()) is None or closed < since:
            if time.monotonic() > deadline:
                raise AssertionError("the new worker never reconciled its host's network")
            time.sleep(0.05)


def make_stack(
    settings: Settings,
    drivers: HostDrivers,
    image_file: Path,
    interceptors: Sequence[Interceptor] = (),
) -> Stack:
    db = database_at(settings.db_url)
    seed(db)
    bootstrap.ensure_paas_user(db, settings)
    bridge = TemporalBridge(
        settings.temporal_address, settings.temporal_namespace, options=temporal.options(settings)
    )
    app = create_app(settings, db, bridge, block_store=drivers.store)
    app.testing = True
    # Networks and servers are placed on a live host: the host's first heartbeat, as its
    # worker's agent beats (the agent beats on from its start), so that a test need not
    # wait for the worker to start before its first request.
    HostAgent(settings, db, drivers.hypervisor, cast(Client, None)).heartbeat()
    worker = WorkerThread(settings, drivers, interceptors).start()
    stack = Stack(settings, db, bridge, app.test_client(), drivers, worker)
    import_default_image(stack, image_file)
    return stack


def _failure(failure: Any) -> str:
    """A failed step's message and its details, as the Temporal UI shows them."""
    while failure.HasField("cause") and not failure.HasField("application_failure_info"):
        failure = failure.cause
    details = failure.application_failure_info.details.payloads
    return " ".join([failure.message, *(p.data.decode() for p in details)])
