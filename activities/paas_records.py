"""Database activities of the PaaS workflows: builds, releases, instances, events, logs.

Every write is conditional or a plain overwrite of the same values, so a retried
activity changes nothing more the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from temporalio import activity

from nimbus.db import Database, Flavor, Server, utcnow
from nimbus.db_network import IPAllocation, Port
from nimbus.db_paas import (
    App,
    AppEvent,
    AppRoute,
    Build,
    Deployment,
    Instance,
    LogOffset,
    Release,
    ServiceBinding,
)
from nimbus.errors import NotFound
from paas import logstore


@dataclass(frozen=True)
class BuildRef:
    build_id: str


@dataclass(frozen=True)
class BuildPlan:
    build_id: str
    app_id: str
    project_id: str
    package_sha256: str
    host: str
    command: str | None
    buildpack: str | None


@dataclass(frozen=True)
class FinishBuildInput:
    build_id: str
    state: str
    buildpack: str | None = None
    runtime: str | None = None
    command: str | None = None
    droplet_image_id: str | None = None
    droplet_size: int | None = None
    error: str | None = None
    error_step: str | None = None


@dataclass(frozen=True)
class AppLogInput:
    app_id: str
    source: str
    lines: list[str]


@dataclass(frozen=True)
class AppEventInput:
    app_id: str
    type: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppRef:
    app_id: str


@dataclass(frozen=True)
class TailInput:
    app_id: str
    source: str
    count: int = 10


@dataclass(frozen=True)
class ReleaseRef:
    release_id: str


@dataclass(frozen=True)
class ReleasePlan:
    """What every instance of a release is booted with."""

    release_id: str
    version: int
    image_id: str
    flavor_id: str
    runtime: str
    command: str
    env: dict[str, str]
    health_type: str
    health_endpoint: str
    timeout: int


@dataclass(frozen=True)
class AppPlan:
    app_id: str
    project_id: str
    name: str
    hostnames: list[str]


@dataclass(frozen=True)
class ObserveInput:
    server_ids: list[str]


@dataclass(frozen=True)
class ServerView:
    server_id: str
    status: str
    host: str | None = None
    address: str | None = None
    started: bool = False
    exit_status: int | None = None


@dataclass(frozen=True)
class ObserveResult:
    servers: list[ServerView]


@dataclass(frozen=True)
class InstanceRecord:
    instance_id: str
    index: int
    release_id: str
    server_id: str
    state: str
    address: str | None = None
    crashes: int = 0
    responses: dict[str, int] | None = None
    response_ms: int | None = None


@dataclass(frozen=True)
class RecordInstancesInput:
    app_id: str
    instances: list[InstanceRecord]


@dataclass(frozen=True)
class RecordAppInput:
    app_id: str
    state: str | None = None
    instances: int | None = None
    release_id: str | None = None
    deployment: str | None = None
    deployment_error: str | None = None
    responses: dict[str, int] | None = None
    request_rate: float | None = None


@dataclass(frozen=True)
class DeploymentRecord:
    """A deployment's row, whole: written again at each change of its state."""

    deployment_id: str
    app_id: str
    release_id: str
    revision: int
    previous_release_id: str | None
    strategy: str
    max_in_flight: int
    instance_steps: list[int]
    step: int
    state: str
    reason: str | None = None


@dataclass(frozen=True)
class Leftovers:
    """What a deleted app may still own besides its rows."""

    project_id: str
    server_ids: list[str]
    image_ids: list[str]


@dataclass(frozen=True)
class SpaceRecord:
    project_id: str
    network_id: str
    subnet_id: str
    security_group_id: str


def pick_flavor(flavors: list[Flavor], memory_mib: int) -> Flavor:
    """The smallest public flavor with at least ``memory_mib`` of RAM."""
    fitting = [f for f in flavors if f.is_public and f.ram >= memory_mib]
    if not fitting:
        raise NotFound(f"no flavor has {memory_mib} MiB of memory or more")
    return min(fitting, key=lambda f: (f.ram, f.vcpus, f.disk))


class PaasRecords:
    """Activities that read and write the PaaS rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def build_plan(self, inp: BuildRef) -> BuildPlan:
        """What a build stages: its package, and the app's command and buildpack."""
        with self.db.session() as s:
            build = s.get(Build, inp.build_id)
            app = s.get(App, build.app_id) if build else None
            if build is None or app is None:
                raise NotFound(f"build {inp.build_id} not found")
            return BuildPlan(
                build.id,
                app.id,
                app.project_id,
                build.package_sha256,
                build.host,
                app.command,
                app.buildpack,
            )

    @activity.defn
    def finish_build(self, inp: FinishBuildInput) -> None:
        """Record a build's outcome (STAGED or FAILED) once; a second call is a no-op."""
        with self.db.session() as s:
            build = s.get(Build, inp.build_id)
            if build is None or build.state != "STAGING":
                return
            for key in ("state", "buildpack", "runtime", "command", "droplet_image_id"):
                setattr(build, key, getattr(inp, key))
            build.droplet_size, build.error, build.error_step = (
                inp.droplet_size,
                inp.error,
                inp.error_step,
            )
            build.finished_at = utcnow()

    @activity.defn
    def log(self, inp: AppLogInput) -> None:
        """Append lines to the app's log (``STG`` for staging output), once per step."""
        logstore.append(self.db, inp.app_id, inp.source, inp.lines, step=step_key())

    @activity.defn
    def event(self, inp: AppEventInput) -> None:
        """Record an app event (``nimbus app events``), once per step."""
        step = step_key()
        with self.db.session() as s:
            if s.scalars(select(AppEvent.id).where(AppEvent.step == step)).first() is not None:
                return  # a retry of a step that had already recorded it
            event = AppEvent(
                app_id=inp.app_id,
                type=inp.type,
                message=inp.message,
                details=inp.details,
                step=step,
            )
            s.add(event)

    @activity.defn
    def tail(self, inp: TailInput) -> list[str]:
        """The last lines of one source of the app's log (an instance's ``APP/<i>``)."""
        return logstore.tail(self.db, inp.app_id, inp.source, inp.count)

    @activity.defn
    def release_plan(self, inp: ReleaseRef) -> ReleasePlan:
        """The release and the flavor its memory needs."""
        with self.db.session() as s:
            rel = s.get(Release, inp.release_id)
            if rel is None:
                raise NotFound(f"release {inp.release_id} not found")
            flavor = pick_flavor(list(s.scalars(select(Flavor))), rel.memory_mib)
            return ReleasePlan(
                rel.id,
                rel.version,
                rel.droplet_image_id,
                flavor.id,
                rel.runtime,
                rel.command,
                dict(rel.env),
                rel.health_type,
                rel.health_endpoint,
                rel.timeout,
            )

    @activity.defn
    def app_plan(self, inp: AppRef) -> AppPlan:
        """The app's name and host names."""
        with self.db.session() as s:
            app = s.get(App, inp.app_id)
            if app is None:
                raise NotFound(f"app {inp.app_id} not found")
            hosts = s.scalars(select(AppRoute.hostname).where(AppRoute.app_id == app.id))
            return AppPlan(app.id, app.project_id, app.name, sorted(hosts))

    @activity.defn
    def observe(self, inp: ObserveInput) -> ObserveResult:
        """Each server's status, host, address, and what its guest said of the app."""
        with self.db.session() as s:
            servers = {
                x.id: x for x in s.scalars(select(Server).where(Server.id.in_(inp.server_ids)))
            }
            offsets = {
                o.server_id: o
                for o in s.scalars(select(LogOffset).where(LogOffset.server_id.in_(inp.server_ids)))
            }
            addresses = dict(
                s.execute(
                    select(Port.device_id, IPAllocation.ip_address)
                    .join(IPAllocation, IPAllocation.port_id == Port.id)
                    .where(Port.device_id.in_(inp.server_ids))
                ).all()
            )
        return ObserveResult([_view(sid, servers, offsets, addresses) for sid in inp.server_ids])

    @activity.defn
    def record_instances(self, inp: RecordInstancesInput) -> None:
        """Make the app's instance rows exactly ``inp.instances``."""
        with self.db.session() as s:
            s.execute(delete(Instance).where(Instance.app_id == inp.app_id))
            s.flush()
            for r in inp.instances:
                s.add(
                    Instance(
                        id=r.instance_id,
                        app_id=inp.app_id,
                        index=r.index,
                        release_id=r.release_id,
                        server_id=r.server_id or None,
                        state=r.state,
                        address=r.address,
                        crashes=r.crashes,
                        responses=r.responses,
                        response_ms=r.response_ms,
                    )
                )

    @activity.defn
    def record_app(self, inp: RecordAppInput) -> None:
        """Write the supervisor's view of what the app should be (the fields given)."""
        with self.db.session() as s:
            app = s.get(App, inp.app_id)
            if app is None:
                return
            for key in (
                "state",
                "instances",
                "release_id",
                "deployment",
                "responses",
                "request_rate",
            ):
                if getattr(inp, key) is not None:
                    setattr(app, key, getattr(inp, key))
            if inp.deployment is not None:
                app.deployment_error = inp.deployment_error

    @activity.defn
    def record_deployment(self, inp: DeploymentRecord) -> None:
        """Make the deployment's row say exactly ``inp`` (made the first time)."""
        with self.db.session() as s:
            row = s.get(Deployment, inp.deployment_id)
            if row is None:
                row = Deployment(id=inp.deployment_id, app_id=inp.app_id)
                s.add(row)
            row.release_id, row.revision = inp.release_id, inp.revision
            row.previous_release_id, row.strategy = inp.previous_release_id, inp.strategy
            row.max_in_flight, row.instance_steps = inp.max_in_flight, list(inp.instance_steps)
            row.step, row.state, row.reason = inp.step, inp.state, inp.reason

    @activity.defn
    def leftovers(self, inp: AppRef) -> Leftovers:
        """The servers of the app's recorded instances and its droplet images."""
        with self.db.session() as s:
            app = s.get(App, inp.app_id)
            if app is None:
                return Leftovers("", [], [])
            servers = s.scalars(select(Instance.server_id).where(Instance.app_id == app.id))
            images = s.scalars(select(Build.droplet_image_id).where(Build.app_id == app.id))
            return Leftovers(app.project_id, [x for x in servers if x], [x for x in images if x])

    @activity.defn
    def forget_app(self, inp: AppRef) -> None:
        """Remove the app and every row of it (its logs, events and bindings too)."""
        with self.db.session() as s:
            servers = list(
                s.scalars(select(Instance.server_id).where(Instance.app_id == inp.app_id))
            )
            s.execute(delete(LogOffset).where(LogOffset.server_id.in_([x for x in servers if x])))
            for model in (Instance, AppRoute, Deployment, Release, Build, ServiceBinding):
                s.execute(delete(model).where(model.app_id == inp.app_id))
            s.execute(delete(AppEvent).where(AppEvent.app_id == inp.app_id))
            logstore.forget(s, inp.app_id)
            s.execute(delete(App).where(App.id == inp.app_id))

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.leftovers,
            self.forget_app,
            self.build_plan,
            self.finish_build,
            self.log,
            self.event,
            self.tail,
            self.release_plan,
            self.app_plan,
            self.observe,
            self.record_instances,
            self.record_app,
            self.record_deployment,
        ]


def _view(
    server_id: str,
    servers: dict[str, Server],
    offsets: dict[str, LogOffset],
    addresses: dict[str, str],
) -> ServerView:
    server, offset = servers.get(server_id), offsets.get(server_id)
    if server is None or server.deleted_at is not None:
        return ServerView(server_id, "DELETED")
    return ServerView(
        server_id,
        server.status if server.task_state != "deleting" else "DELETING",
        server.host,
        addresses.get(server_id),
        bool(offset and offset.started),
        offset.exit_status if offset else None,
    )


def step_key() -> str:
    """The running activity's place in its workflow run: the same on every retry of it,
    and different for every other step (local activities included)."""
    info = activity.info()
    return f"{info.workflow_run_id}/{info.activity_id}"
