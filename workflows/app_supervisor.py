"""AppSupervisor: one long-running workflow per app that keeps its instances as asked.

It holds what the user asked for (release, instance count, started or stopped) and, every
few seconds, compares it with what runs: each instance's server (status, address, what its
guest said of the app) and the router's health checks. It starts missing instances
through the compute API (BootServer underneath), replaces crashed ones with Cloud
Foundry's backoff, routes an instance only once its health check passed, and records
instances, events and the deployment's outcome for the API. Users change it with updates
(deploy, scale, stop, start, restart, delete) and read it with the ``state`` query; it
continues as new when its history grows long.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.app_backoff import Backoff
from workflows.app_stage import ensure_space
from workflows.common import STEP_FAILED, reason, run_activity, run_local

with workflow.unsafe.imports_passed_through():
    from activities.paas_cloud import (
        CreateInstanceInput,
        CreateInstanceResult,
        DeleteServerInput,
        PaasCloudActivities,
    )
    from activities.paas_logs import LogShipper, ShipInput
    from activities.paas_records import (
        AppEventInput,
        AppPlan,
        AppRef,
        InstanceRecord,
        ObserveInput,
        ObserveResult,
        PaasRecords,
        RecordAppInput,
        RecordInstancesInput,
        ReleasePlan,
        ReleaseRef,
        ServerView,
        SpaceRecord,
        TailInput,
    )
    from activities.paas_router import (
        ROUTER_QUEUE,
        HealthResult,
        MemberInput,
        MembersInput,
        RouteInput,
        RouterActivities,
        RouterAppRef,
    )
    from nimbus.config import host_queue
    from paas.launch import LaunchSpec, launch_script

STARTING, RUNNING = "STARTING", "RUNNING"
DEPLOYING, DEPLOYED, FAILED = "DEPLOYING", "DEPLOYED", "FAILED"
#: Server statuses that mean the instance is gone or its guest stopped.
DEAD = ("DELETED", "DELETING", "ERROR", "SHUTOFF")
#: Lines of the instance's output kept with a crash event or a failed deployment.
LAST_LINES = 10
#: Members are re-asserted on the router this often (ticks), in case it restarted.
REASSERT_TICKS = 15
MAX_INSTANCES = 100
#: How long an instance may take to boot and start its app's process (a guest under TCG on
#: a loaded host is slow); the app's own health timeout starts after that.
BOOT_SECONDS = 300
#: A running instance whose check fails is out of the router at once, and replaced only if
#: it stays down this long: a guest starved of CPU for a moment should not be killed.
LIVENESS_GRACE_SECONDS = 10


@dataclass
class InstanceState:
    instance_id: str
    index: int
    generation: int
    release_id: str
    server_id: str
    state: str = STARTING
    started_at: float = 0.0
    running_since: float = 0.0
    address: str = ""
    host: str = ""
    #: When the guest said the app's process started: the health timeout counts from here.
    app_started_at: float = 0.0
    #: Since when the router has seen a running instance's check fail (0: it passes).
    down_since: float = 0.0


@dataclass
class SlotState:
    index: int
    crashes: int = 0
    restart_at: float = 0.0


@dataclass
class SupervisorState:
    app_id: str
    project_id: str
    name: str = ""
    hostnames: list[str] = field(default_factory=list)
    release: ReleasePlan | None = None
    wanted: int = 0
    started: bool = False
    generation: int = 0
    deployment: str = ""
    deployment_error: str = ""
    space: SpaceRecord | None = None
    instances: list[InstanceState] = field(default_factory=list)
    slots: list[SlotState] = field(default_factory=list)
    deleting: bool = False


@dataclass(frozen=True)
class SupervisorInput:
    app_id: str
    project_id: str
    backoff: Backoff = Backoff()
    tick_seconds: float = 2.0
    state: SupervisorState | None = None
    liveness_grace: float = LIVENESS_GRACE_SECONDS


@dataclass(frozen=True)
class DeployInput:
    release_id: str
    instances: int


@dataclass(frozen=True)
class ScaleInput:
    instances: int


@dataclass(frozen=True)
class Ack:
    """What an update answers: the deployment it started or the state it left."""

    deployment: str
    wanted: int
    started: bool


def supervisor_id(app_id: str) -> str:
    return f"app-{app_id}-supervisor"


def _health_failed(plan: ReleasePlan) -> bool:
    return plan.health_type != "process"


@workflow.defn
class AppSupervisor:
    @workflow.init
    def __init__(self, inp: SupervisorInput) -> None:
        self.st = inp.state or SupervisorState(inp.app_id, inp.project_id)
        self.backoff = inp.backoff
        self.tick = inp.tick_seconds
        self.grace = inp.liveness_grace
        self._lock = asyncio.Lock()
        self._wake = False
        self._ticks = 0
        self._members: list[MemberInput] | None = None
        self._recorded: list[InstanceRecord] | None = None

    @workflow.run
    async def run(self, inp: SupervisorInput) -> None:
        while not (self.st.deleting and not self.st.instances):
            async with self._lock:
                await self._reconcile()
            await self._sleep()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(replace(inp, state=self.st))
        await run_activity(
            RouterActivities.remove_route, RouterAppRef(self.st.app_id), ROUTER_QUEUE
        )
        await self._record_instances()
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def _sleep(self) -> None:
        self._wake = False
        busy = any(i.state == STARTING for i in self.st.instances) or self.st.deleting
        try:
            await workflow.wait_condition(
                lambda: self._wake, timeout=timedelta(seconds=self.tick if busy else self.tick * 2)
            )
        except TimeoutError:
            pass

    @workflow.query
    def state(self) -> SupervisorState:
        return self.st

    # -- updates -------------------------------------------------------------------------

    @workflow.update
    async def deploy(self, inp: DeployInput) -> Ack:
        """Run ``release`` on ``instances`` instances, replacing the ones that run now."""
        async with self._lock:
            plan: ReleasePlan = await run_local(
                PaasRecords.release_plan, ReleaseRef(inp.release_id)
            )
            app: AppPlan = await run_local(PaasRecords.app_plan, AppRef(self.st.app_id))
            self.st.name, self.st.hostnames = app.name, app.hostnames
            self.st.space = await ensure_space(self.st.project_id)
            self.st.release, self.st.wanted, self.st.started = plan, inp.instances, True
            self.st.generation += 1
            await self._ensure_route()
            await self._set_deployment(DEPLOYING)
            await self._event(
                "app.deploy", f"deploying release v{plan.version} on {inp.instances} instance(s)"
            )
        return self._wakeup()

    @deploy.validator
    def _check_deploy(self, inp: DeployInput) -> None:
        _check_count(inp.instances)
        if self.st.deleting:
            raise ApplicationError("the app is being deleted", type="Conflict")

    @workflow.update
    async def scale(self, inp: ScaleInput) -> Ack:
        """Keep ``instances`` instances."""
        async with self._lock:
            self.st.wanted = inp.instances
            await run_local(
                PaasRecords.record_app, RecordAppInput(self.st.app_id, instances=inp.instances)
            )
            await self._event("app.scale", f"scaled to {inp.instances} instance(s)")
        return self._wakeup()

    @scale.validator
    def _check_scale(self, inp: ScaleInput) -> None:
        _check_count(inp.instances)

    @workflow.update
    async def stop(self) -> Ack:
        """Stop every instance; the app keeps its release and instance count."""
        async with self._lock:
            self.st.started = False
            await run_local(PaasRecords.record_app, RecordAppInput(self.st.app_id, state="STOPPED"))
            await self._event("app.stop", "stopped")
        return self._wakeup()

    @workflow.update
    async def start(self) -> Ack:
        """Start the app's instances again (its current release)."""
        async with self._lock:
            self.st.started = True
            await self._set_deployment(DEPLOYING)
            await self._event("app.start", "started")
        return self._wakeup()

    @start.validator
    def _check_start(self) -> None:
        if self.st.release is None:
            raise ApplicationError("the app has no release yet: push it first", type="Conflict")

    @workflow.update
    async def restart(self) -> Ack:
        """Replace every instance with a new one of the same release."""
        async with self._lock:
            self.st.started, self.st.generation = True, self.st.generation + 1
            await self._set_deployment(DEPLOYING)
            await self._event("app.restart", "restarting every instance")
        return self._wakeup()

    @restart.validator
    def _check_restart(self) -> None:
        self._check_start()

    @workflow.update
    async def delete(self) -> Ack:
        """Stop everything, take the app off the router and end."""
        async with self._lock:
            self.st.deleting, self.st.started = True, False
        self._wakeup()
        await workflow.wait_condition(lambda: not self.st.instances)
        return self._ack()

    def _wakeup(self) -> Ack:
        self._wake = True
        return self._ack()

    def _ack(self) -> Ack:
        return Ack(self.st.deployment, self.st.wanted, self.st.started)

    # -- the loop ------------------------------------------------------------------------

    async def _reconcile(self) -> None:
        self._ticks += 1
        now = workflow.now().timestamp()
        if self.st.instances:
            ids = [i.server_id for i in self.st.instances]
            seen: ObserveResult = await run_local(PaasRecords.observe, ObserveInput(ids))
            health = await self._health()
            views = {v.server_id: v for v in seen.servers}
            for inst in list(self.st.instances):
                await self._judge(inst, views[inst.server_id], health, now)
        await self._converge(workflow.now().timestamp())
        await self._publish()

    async def _health(self) -> HealthResult:
        if self.st.release is None or not _health_failed(self.st.release):
            return HealthResult([])
        try:
            result: HealthResult = await run_activity(
                RouterActivities.health, RouterAppRef(self.st.app_id), ROUTER_QUEUE
            )
            return result
        except STEP_FAILED:
            await self._ensure_route()  # the router lost the app (restarted): say it again
            self._members = None
            return HealthResult([])

    async def _judge(
        self, inst: InstanceState, view: ServerView, health: HealthResult, now: float
    ) -> None:
        inst.address, inst.host = view.address or inst.address, view.host or inst.host
        plan = self.st.release
        if view.status in DEAD or view.exit_status is not None:
            await self._crash(inst, _death(view), view.exit_status)
        elif inst.state == STARTING and plan is not None:
            if view.started and not inst.app_started_at:
                inst.app_started_at = now
            if self._healthy(inst, view, health, plan):
                inst.state, inst.running_since = RUNNING, now
                await self._event(
                    "instance.running", f"instance {inst.index} is healthy and routed"
                )
            elif not inst.app_started_at and now - inst.started_at > BOOT_SECONDS:
                await self._crash(
                    inst, f"it did not boot and start the app within {BOOT_SECONDS} s", None
                )
            elif inst.app_started_at and now - inst.app_started_at > plan.timeout:
                await self._crash(
                    inst, f"its health check did not pass within {plan.timeout} s", None
                )
        elif inst.state == RUNNING and plan is not None:
            await self._liveness(inst, health, plan, now)

    async def _liveness(
        self, inst: InstanceState, health: HealthResult, plan: ReleasePlan, now: float
    ) -> None:
        """Replace a running instance whose check has failed for a while; forget its
        crashes once it has been healthy long enough."""
        if not (_health_failed(plan) and health.of(inst.index) == "DOWN"):
            inst.down_since = 0.0
            if now - inst.running_since > self.backoff.reset_seconds:
                self._slot(inst.index).crashes = 0
        elif not inst.down_since:
            inst.down_since = now
        elif now - inst.down_since >= self.grace:
            await self._crash(inst, f"its {plan.health_type} health check failed", None)

    def _healthy(
        self, inst: InstanceState, view: ServerView, health: HealthResult, plan: ReleasePlan
    ) -> bool:
        if view.status != "ACTIVE" or not inst.address:
            return False
        if not _health_failed(plan):
            return view.started
        member = self._members is not None and any(
            m.index == inst.index and m.address == inst.address for m in self._members
        )
        return member and health.of(inst.index) == "UP"

    async def _crash(self, inst: InstanceState, why: str, status: int | None) -> None:
        lines = await self._last_lines(inst)
        details = {"index": inst.index, "reason": why, "exit_status": status, "last_lines": lines}
        await self._event("app.crash", f"instance {inst.index} crashed: {why}", details)
        await self._remove(inst)
        if self.st.deployment == DEPLOYING and inst.generation == self.st.generation:
            self.st.started = False
            tail = "\n".join(lines)
            await self._set_deployment(
                FAILED,
                f"instance {inst.index} crashed: {why}"
                + (f"\nlast output:\n{tail}" if tail else ""),
            )
            await run_local(PaasRecords.record_app, RecordAppInput(self.st.app_id, state="STOPPED"))
            return
        slot = self._slot(inst.index)
        slot.crashes += 1
        delay = self.backoff.delay(slot.crashes)
        slot.restart_at = workflow.now().timestamp() + delay
        if delay:
            await self._event(
                "app.backoff",
                f"instance {inst.index} restarts in {delay:.0f} s (crash {slot.crashes})",
            )

    async def _last_lines(self, inst: InstanceState) -> list[str]:
        if inst.host:
            try:
                await run_activity(
                    LogShipper.ship_instance_log, ShipInput(inst.server_id), host_queue(inst.host)
                )
            except STEP_FAILED as exc:
                workflow.logger.warning(
                    "could not ship the last output of %s: %s", inst.server_id, reason(exc)
                )
        lines: list[str] = await run_local(
            PaasRecords.tail, TailInput(self.st.app_id, f"APP/{inst.index}", LAST_LINES)
        )
        return lines

    async def _remove(self, inst: InstanceState) -> None:
        """Take the instance off the router first (no request goes to a server being
        deleted), record it gone, then delete its server."""
        self.st.instances.remove(inst)
        await self._publish()
        await run_activity(
            PaasCloudActivities.delete_server, DeleteServerInput(self.st.project_id, inst.server_id)
        )

    async def _converge(self, now: float) -> None:
        st = self.st
        wanted = st.wanted if st.started and st.release and not st.deleting else 0
        for inst in list(st.instances):
            if inst.index >= wanted or inst.generation != st.generation:
                if inst.host:
                    await self._last_lines(inst)
                await self._remove(inst)
        for index in range(wanted):
            if (
                not any(i.index == index for i in st.instances)
                and now >= self._slot(index).restart_at
            ):
                await self._start(index, now)
        running = [i for i in st.instances if i.state == RUNNING and i.generation == st.generation]
        if st.deployment == DEPLOYING and st.started and len(running) == wanted:
            await self._publish()  # routed and recorded before readers see the outcome
            await self._set_deployment(DEPLOYED)
            await self._event("app.deployed", f"all {wanted} instance(s) are running")

    async def _start(self, index: int, now: float) -> None:
        st, plan = self.st, self.st.release
        assert plan is not None and st.space is not None
        instance_id = str(workflow.uuid4())
        launch = LaunchSpec(st.name, index, plan.command, plan.runtime, env=dict(plan.env))
        create = CreateInstanceInput(
            st.project_id,
            instance_id,
            f"{st.name}-{index}",
            plan.image_id,
            plan.flavor_id,
            st.space.network_id,
            launch_script(launch),
            {"paas_app": st.app_id, "paas_index": str(index), "paas_release": plan.release_id},
        )
        try:
            made: CreateInstanceResult = await run_activity(
                PaasCloudActivities.create_instance, create
            )
        except STEP_FAILED as exc:
            await self._refused(index, reason(exc))
            return
        st.instances.append(
            InstanceState(
                instance_id, index, st.generation, plan.release_id, made.server_id, started_at=now
            )
        )
        await self._record_instances()

    async def _refused(self, index: int, why: str) -> None:
        """An instance could not even be created (quota, a vanished image...)."""
        await self._event("app.start_failed", f"instance {index} could not be created: {why}")
        if self.st.deployment == DEPLOYING:
            self.st.started = False
            await self._set_deployment(FAILED, f"instance {index} could not be created: {why}")
            await run_local(PaasRecords.record_app, RecordAppInput(self.st.app_id, state="STOPPED"))
        else:
            self._slot(index).restart_at = workflow.now().timestamp() + self.backoff.first_seconds

    async def _publish(self) -> None:
        members = [
            MemberInput(i.index, i.address, i.state == RUNNING)
            for i in self.st.instances
            if i.address
        ]
        if self.st.space is not None and (
            members != self._members or self._ticks % REASSERT_TICKS == 0
        ):
            await run_activity(
                RouterActivities.set_members, MembersInput(self.st.app_id, members), ROUTER_QUEUE
            )
            self._members = members
        await self._record_instances()

    async def _record_instances(self) -> None:
        records = [
            InstanceRecord(
                i.instance_id,
                i.index,
                i.release_id,
                i.server_id,
                i.state,
                i.address or None,
                self._slot(i.index).crashes,
            )
            for i in self.st.instances
        ]
        if records != self._recorded:
            await run_local(
                PaasRecords.record_instances, RecordInstancesInput(self.st.app_id, records)
            )
            self._recorded = records

    async def _ensure_route(self) -> None:
        st, plan = self.st, self.st.release
        if st.space is None or plan is None:
            return
        route = RouteInput(
            st.app_id,
            st.hostnames,
            f"qdhcp-{st.space.network_id}",
            health_type=plan.health_type,
            health_endpoint=plan.health_endpoint,
        )
        await run_activity(RouterActivities.ensure_route, route, ROUTER_QUEUE)

    async def _set_deployment(self, state: str, error: str = "") -> None:
        st = self.st
        st.deployment, st.deployment_error = state, error
        release = st.release.release_id if st.release else None
        await run_local(
            PaasRecords.record_app,
            RecordAppInput(
                st.app_id,
                "STARTED" if st.started else "STOPPED",
                st.wanted,
                release,
                state,
                error or None,
            ),
        )
        if state == FAILED:
            await self._event("app.deploy_failed", error)

    async def _event(
        self, kind: str, message: str, details: dict[str, object] | None = None
    ) -> None:
        await run_local(
            PaasRecords.event, AppEventInput(self.st.app_id, kind, message, dict(details or {}))
        )

    def _slot(self, index: int) -> SlotState:
        for slot in self.st.slots:
            if slot.index == index:
                return slot
        slot = SlotState(index)
        self.st.slots.append(slot)
        return slot


def _check_count(instances: int) -> None:
    if not 0 <= instances <= MAX_INSTANCES:
        raise ApplicationError(f"instances must be from 0 to {MAX_INSTANCES}", type="InvalidSpec")


def _death(view: ServerView) -> str:
    if view.exit_status is not None:
        return f"the app exited with status {view.exit_status}"
    if view.status == "SHUTOFF":
        return "its server stopped (SHUTOFF)"
    if view.status == "ERROR":
        return "its server went into ERROR"
    return "its server disappeared"
