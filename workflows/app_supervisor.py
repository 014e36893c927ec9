"""AppSupervisor: one long-running workflow per app that keeps its instances as asked.

It holds what the user asked for (release, instance count, started or stopped) and, every
few seconds, compares it with what runs: each instance's server (status, address, what its
guest said of the app) and the router's health checks. It starts missing instances
through the compute API (BootServer underneath), replaces crashed ones with Cloud
Foundry's backoff, routes an instance only once its health check passed, and records
instances, events and the deployment's outcome for the API. Users change it with updates
(deploy, scale, stop, start, restart, delete, continue_deployment, cancel_deployment) and
read it with the ``state`` query; it continues as new when its history grows long.

Deployments (from the ``deployment-strategies`` patch on): ``recreate`` replaces every
instance at once; ``rolling`` starts new instances ``max_in_flight`` at a time and drains
an old one out of the router each time a new one is healthy, so as many instances serve
as were asked for throughout; ``canary`` does the same but pauses after each of its
``instance_steps`` (percent of the instances) until ``continue_deployment``. A deployment
that fails (a new instance crashes or never gets healthy) or is cancelled returns the app
to the release it ran before: the old instances never stopped serving, and any drained
ones are started again. Instances leave the router drained (no new requests, the ones in
flight finish) before their servers are deleted.

Metrics and autoscaling (from the ``app-metrics`` patch on): every few ticks the supervisor
reads the router's counts of each instance's responses, keeps running totals that survive
a router restart and an instance's replacement, and records them with the request rate;
an app with an autoscaling policy is scaled within its bounds to the instance count its
request rate needs, at most once per cooldown, each decision an event with its reason.
"""

from __future__ import annotations

import asyncio
import math
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
        DeploymentRecord,
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
        StatsResult,
    )
    from nimbus.config import host_queue
    from paas.launch import LaunchSpec, launch_script

STARTING, RUNNING = "STARTING", "RUNNING"
#: An instance out of the router's rotation, finishing its requests before it is deleted.
DRAINING = "DRAINING"
DEPLOYING, DEPLOYED, FAILED = "DEPLOYING", "DEPLOYED", "FAILED"
PAUSED, CANCELED = "PAUSED", "CANCELED"
#: A deployment in these states is the app's active one: no second one starts meanwhile.
ACTIVE = (DEPLOYING, PAUSED)
STRATEGIES = ("rolling", "canary", "recreate")
#: The patch that brought deployment strategies; runs begun before it keep the old steps.
STRATEGIES_PATCH = "deployment-strategies"
#: How long a drained instance keeps its server, for the requests it still serves.
DRAIN_SECONDS = 5.0
#: The patch that brought app metrics and autoscaling.
METRICS_PATCH = "app-metrics"
#: A cancelled or failed deployment takes its release's instances out of the router at
#: once, when an instance of the release it goes back to runs (before it, they served on
#: until that release was back to full strength).
ROLLBACK_DRAIN_PATCH = "rollback-drains-at-once"
#: The router's counts are read every this many ticks.
MEASURE_TICKS = 5
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
    #: The router's slot for it (-1: its index, as before deployment strategies): during a
    #: rolling deployment an old and a new instance of one index are both members.
    router_slot: int = -1
    #: A DRAINING instance's server is deleted after this time.
    drain_until: float = 0.0
    #: Responses by status class: the router's own count at the last look (it restarts
    #: from zero with the router), and the instance's running total.
    router_counts: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    response_ms: int = 0

    @property
    def member(self) -> int:
        """Its member number on the router."""
        return self.router_slot if self.router_slot >= 0 else self.index


@dataclass(frozen=True)
class AutoscalePolicy:
    """Keep from ``min_instances`` to ``max_instances``, enough that each gets about
    ``requests_per_second``; change the count at most once per ``cooldown`` seconds."""

    min_instances: int
    max_instances: int
    requests_per_second: float
    cooldown: float = 60.0


@dataclass(frozen=True)
class AutoscaleInput:
    policy: AutoscalePolicy | None = None


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
    #: The deployment under way or last run (its ``paas_deployments`` row), and how.
    deployment_id: str = ""
    strategy: str = "recreate"
    max_in_flight: int = 1
    instance_steps: list[int] = field(default_factory=list)
    step: int = 0
    #: What a failed or cancelled deployment returns to: the release that ran, and the
    #: generation of its instances (``None``: nothing ran; a failure stops the app).
    previous: ReleasePlan | None = None
    previous_generation: int = 0
    #: The highest generation used: a rollback reuses an old one, the next deploy does not.
    top_generation: int = 0
    #: The deployment's own release, revision and previous release, for its row.
    deployment_release: str = ""
    deployment_revision: int = 0
    deployment_previous: str | None = None
    #: Responses by status class, all instances ever; the request rate at the last look.
    app_counts: dict[str, int] = field(default_factory=dict)
    measured_at: float = 0.0
    request_rate: float = 0.0
    autoscaling: AutoscalePolicy | None = None
    scaled_at: float = 0.0


@dataclass(frozen=True)
class SupervisorInput:
    app_id: str
    project_id: str
    backoff: Backoff = Backoff()
    tick_seconds: float = 2.0
    state: SupervisorState | None = None
    liveness_grace: float = LIVENESS_GRACE_SECONDS
    drain_seconds: float = DRAIN_SECONDS


@dataclass(frozen=True)
class DeployInput:
    release_id: str
    instances: int
    strategy: str = "recreate"
    max_in_flight: int = 1
    #: Canary only: percent of the instances each step runs before it pauses.
    instance_steps: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ScaleInput:
    instances: int


@dataclass(frozen=True)
class Ack:
    """What an update answers: the deployment it started or the state it left."""

    deployment: str
    wanted: int
    started: bool
    deployment_id: str = ""


def supervisor_id(app_id: str) -> str:
    return f"app-{app_id}-supervisor"


def _health_failed(plan: ReleasePlan) -> bool:
    return plan.health_type != "process"


def canary_targets(steps: list[int], wanted: int) -> list[int]:
    """How many new instances each canary step runs before it pauses (at least one,
    fewer than ``wanted``); no steps is one step of one instance."""
    counts = [max(1, math.ceil(p * wanted / 100)) for p in (steps or [0])]
    return sorted({c for c in counts if c < wanted})


def check_deployment(strategy: str, max_in_flight: int, steps: list[int]) -> None:
    """Refuse a strategy, max in flight or instance steps Nimbus cannot run."""
    if strategy not in STRATEGIES:
        raise ApplicationError(
            f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}",
            type="InvalidSpec",
        )
    if not 1 <= max_in_flight <= MAX_INSTANCES:
        raise ApplicationError(
            f"max in flight must be from 1 to {MAX_INSTANCES}", type="InvalidSpec"
        )
    if steps and strategy != "canary":
        raise ApplicationError("instance steps are for the canary strategy", type="InvalidSpec")
    if any(not 1 <= p <= 100 for p in steps) or steps != sorted(set(steps)):
        raise ApplicationError(
            "instance steps must be rising percentages from 1 to 100", type="InvalidSpec"
        )


@workflow.defn
class AppSupervisor:
    @workflow.init
    def __init__(self, inp: SupervisorInput) -> None:
        self.st = inp.state or SupervisorState(inp.app_id, inp.project_id)
        self.backoff = inp.backoff
        self.tick = inp.tick_seconds
        self.grace = inp.liveness_grace
        self.drain = inp.drain_seconds
        self._strategies: bool | None = None
        self._measuring: bool | None = None
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

    def _new(self) -> bool:
        """Whether this run has deployment strategies (``workflow.patched``, asked once:
        a run begun before them keeps the old steps until it continues as new)."""
        if self._strategies is None:
            self._strategies = workflow.patched(STRATEGIES_PATCH)
        return self._strategies

    def _metrics(self) -> bool:
        """Whether this run reads the router's counts (``workflow.patched``, asked once)."""
        if self._measuring is None:
            self._measuring = workflow.patched(METRICS_PATCH)
        return self._measuring

    def _rolling_out(self) -> bool:
        """A rolling or canary deployment is replacing the instances of ``previous``."""
        st = self.st
        return st.strategy != "recreate" and st.previous is not None and st.deployment in ACTIVE

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
            new = self._new()
            if new:
                self._begin(inp, plan)
            else:
                self.st.generation += 1
            self.st.release, self.st.wanted, self.st.started = plan, inp.instances, True
            await self._ensure_route()
            await self._set_deployment(DEPLOYING)
            how = f" ({inp.strategy})" if new else ""
            await self._event(
                "app.deploy",
                f"deploying release v{plan.version} on {inp.instances} instance(s){how}",
            )
        return self._wakeup()

    def _begin(self, inp: DeployInput, plan: ReleasePlan) -> None:
        """A new deployment: what it returns to if it fails, and how it rolls out."""
        st = self.st
        serving = any(i.state == RUNNING and i.generation == st.generation for i in st.instances)
        st.previous = st.release if st.started and serving else None
        st.previous_generation = st.generation
        self._next_generation()
        st.deployment_id = str(workflow.uuid4())
        st.deployment_release, st.deployment_revision = plan.release_id, plan.version
        st.deployment_previous = st.previous.release_id if st.previous else None
        st.strategy, st.max_in_flight = inp.strategy, inp.max_in_flight
        st.instance_steps, st.step = list(inp.instance_steps), 0

    def _next_generation(self) -> None:
        """A generation no instance has had: above any a rollback went back from."""
        st = self.st
        st.top_generation = max(st.top_generation, st.generation) + 1
        st.generation = st.top_generation

    @deploy.validator
    def _check_deploy(self, inp: DeployInput) -> None:
        _check_count(inp.instances)
        if self.st.deleting:
            raise ApplicationError("the app is being deleted", type="Conflict")
        check_deployment(inp.strategy, inp.max_in_flight, inp.instance_steps)
        self._check_idle()

    def _check_idle(self) -> None:
        """One deployment at a time: a rolling or canary one must end first."""
        if self._rolling_out():
            raise ApplicationError(
                f"deployment {self.st.deployment_id} is {self.st.deployment.lower()}: "
                "continue or cancel it first",
                type="Conflict",
            )

    @workflow.update
    async def continue_deployment(self) -> Ack:
        """Go on to the next canary step (after the last, every instance is replaced)."""
        async with self._lock:
            self.st.step += 1
            await self._set_deployment(DEPLOYING)
            await self._event("app.deployment_continued", "deployment continued")
        return self._wakeup()

    @continue_deployment.validator
    def _check_continue(self) -> None:
        if not (self._rolling_out() and self.st.deployment == PAUSED):
            raise ApplicationError("no deployment of the app is paused", type="Conflict")

    @workflow.update
    async def cancel_deployment(self) -> Ack:
        """Stop the deployment and return to the release that ran before it."""
        async with self._lock:
            await self._roll_back(CANCELED, "cancelled by a user")
        return self._wakeup()

    @cancel_deployment.validator
    def _check_cancel(self) -> None:
        if not self._rolling_out():
            raise ApplicationError("no deployment of the app is in progress", type="Conflict")

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
    async def autoscale(self, inp: AutoscaleInput) -> Ack:
        """Set the app's autoscaling policy (``None``: off, the count stays as it is)."""
        async with self._lock:
            self.st.autoscaling = inp.policy
            p = inp.policy
            await self._event(
                "app.autoscaling",
                "autoscaling off"
                if p is None
                else f"autoscaling from {p.min_instances} to {p.max_instances} instance(s) at "
                f"{p.requests_per_second:g} requests/s each, cooldown {p.cooldown:g} s",
            )
        return self._wakeup()

    @autoscale.validator
    def _check_autoscale(self, inp: AutoscaleInput) -> None:
        p = inp.policy
        if p is not None and not (
            1 <= p.min_instances <= p.max_instances <= MAX_INSTANCES
            and p.requests_per_second > 0
            and p.cooldown >= 0
        ):
            raise ApplicationError("an impossible autoscaling policy", type="InvalidSpec")

    @workflow.update
    async def stop(self) -> Ack:
        """Stop every instance; the app keeps its release and instance count."""
        async with self._lock:
            self.st.started = False
            await run_local(PaasRecords.record_app, RecordAppInput(self.st.app_id, state="STOPPED"))
            await self._event("app.stop", "stopped")
        return self._wakeup()

    @stop.validator
    def _check_stop(self) -> None:
        self._check_idle()

    @workflow.update
    async def start(self) -> Ack:
        """Start the app's instances again (its current release)."""
        async with self._lock:
            self.st.started, self.st.deployment_id = True, ""
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
            self.st.started, self.st.deployment_id = True, ""
            if self._new():
                # A restart replaces every instance at once, whatever the last deploy did.
                self.st.previous, self.st.strategy = None, "recreate"
                self._next_generation()
            else:
                self.st.generation += 1
            await self._set_deployment(DEPLOYING)
            await self._event("app.restart", "restarting every instance")
        return self._wakeup()

    @restart.validator
    def _check_restart(self) -> None:
        self._check_start()
        self._check_idle()

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
        return Ack(self.st.deployment, self.st.wanted, self.st.started, self.st.deployment_id)

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
                if inst.state != DRAINING:
                    await self._judge(inst, views[inst.server_id], health, now)
        if self.st.instances and self._ticks % MEASURE_TICKS == 0 and self._metrics():
            await self._measure(now)
        if self._new():
            await self._converge_deployments(workflow.now().timestamp())
        else:
            await self._converge(workflow.now().timestamp())
        await self._publish()

    async def _measure(self, now: float) -> None:
        """Add what the router counted since the last look to each instance's and the
        app's totals, then autoscale on the request rate."""
        st = self.st
        try:
            seen: StatsResult = await run_activity(
                RouterActivities.stats, RouterAppRef(st.app_id), ROUTER_QUEUE
            )
        except STEP_FAILED:
            return  # the router cannot tell now: the next look counts it
        members = {m.member: m for m in seen.members}
        served = 0
        for inst in st.instances:
            m = members.get(inst.member)
            if m is None:
                continue
            for cls, n in m.responses.items():
                last = inst.router_counts.get(cls, 0)
                more = n - last if n >= last else n  # the router restarted and counts anew
                inst.counts[cls] = inst.counts.get(cls, 0) + more
                st.app_counts[cls] = st.app_counts.get(cls, 0) + more
                served += more
            inst.router_counts, inst.response_ms = dict(m.responses), m.response_ms
        if st.measured_at and now > st.measured_at:
            st.request_rate = served / (now - st.measured_at)
        st.measured_at = now
        await run_local(
            PaasRecords.record_app,
            RecordAppInput(
                st.app_id, responses=dict(st.app_counts), request_rate=round(st.request_rate, 3)
            ),
        )
        await self._autoscale(now)

    async def _autoscale(self, now: float) -> None:
        st, p = self.st, self.st.autoscaling
        if p is None or not st.started or st.deleting or not st.release or self._rolling_out():
            return
        need = math.ceil(st.request_rate / p.requests_per_second)
        wanted = min(p.max_instances, max(p.min_instances, need))
        if wanted == st.wanted or (st.scaled_at and now - st.scaled_at < p.cooldown):
            return
        before, st.wanted, st.scaled_at = st.wanted, wanted, now
        await run_local(PaasRecords.record_app, RecordAppInput(st.app_id, instances=wanted))
        await self._event(
            "app.autoscale",
            f"scaled from {before} to {wanted} instance(s): {st.request_rate:.1f} requests/s "
            f"for {p.requests_per_second:g} per instance, within {p.min_instances} to "
            f"{p.max_instances}",
            {"from": before, "to": wanted, "request_rate": round(st.request_rate, 3)},
        )

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
        if not (_health_failed(plan) and health.of(inst.member) == "DOWN"):
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
            m.index == inst.member and m.address == inst.address for m in self._members
        )
        return member and health.of(inst.member) == "UP"

    async def _crash(self, inst: InstanceState, why: str, status: int | None) -> None:
        lines = await self._last_lines(inst)
        details = {"index": inst.index, "reason": why, "exit_status": status, "last_lines": lines}
        await self._event("app.crash", f"instance {inst.index} crashed: {why}", details)
        await self._remove(inst)
        if self.st.deployment in ACTIVE and inst.generation == self.st.generation:
            tail = "\n".join(lines)
            await self._roll_back(
                FAILED,
                f"instance {inst.index} crashed: {why}"
                + (f"\nlast output:\n{tail}" if tail else ""),
            )
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

    async def _roll_back(self, state: str, why: str) -> None:
        """End the active deployment as ``state`` (FAILED or CANCELED): back to the release
        that ran before it, whose instances kept serving; with none, the app stops."""
        st = self.st
        if st.previous is None:
            st.started = False
            await self._set_deployment(state, why)
            await run_local(PaasRecords.record_app, RecordAppInput(st.app_id, state="STOPPED"))
            return
        st.release, st.generation, st.previous = st.previous, st.previous_generation, None
        await self._ensure_route()
        back = [i for i in st.instances if i.generation == st.generation and i.state == RUNNING]
        if back and workflow.patched(ROLLBACK_DRAIN_PATCH):
            # All traffic back on the release that ran before, from now on; the missing
            # instances of it start again with the next pass.
            now = workflow.now().timestamp()
            for inst in [i for i in st.instances if i.generation != st.generation]:
                if inst.state != DRAINING:
                    await self._drain(inst, now)
            await self._publish()
        await self._set_deployment(state, why)
        await self._event(
            "app.rolled_back", f"back on release v{st.release.version}: the deployment {why}"
        )

    async def _converge_deployments(self, now: float) -> None:
        """``_converge`` with deployment strategies: drained removals, and a rolling or
        canary deployment that keeps the old instances until new ones replace them."""
        st = self.st
        wanted = st.wanted if st.started and st.release and not st.deleting else 0
        for inst in [i for i in st.instances if i.state == DRAINING]:
            if now >= inst.drain_until or not wanted:
                await self._finish(inst)
        current = [i for i in st.instances if i.state != DRAINING and i.generation == st.generation]
        old = [i for i in st.instances if i.state != DRAINING and i.generation != st.generation]
        for inst in current:
            if inst.index >= wanted:
                await self._drain(inst, now)
        new = [i for i in current if i.index < wanted]
        target, room = wanted, wanted
        # Unless the strategy is recreate, instances of another release (an old one being
        # replaced, or a cancelled deployment's) go only as the release's own ones run:
        # not-yet-running ones first, so as many instances serve as were asked for.
        if st.strategy != "recreate" and wanted and old:
            running = sum(i.state == RUNNING for i in new)
            extra = len(old) - max(0, wanted - running)
            for inst in sorted(old, key=lambda i: (i.state == RUNNING, -i.index))[:extra]:
                await self._drain(inst, now)
            room = st.max_in_flight - sum(i.state == STARTING for i in new)
        else:
            for inst in old:
                await self._drain(inst, now)
        steps = canary_targets(st.instance_steps, wanted) if st.strategy == "canary" else []
        if self._rolling_out() and st.step < len(steps):
            target = steps[st.step]
            running = sum(i.state == RUNNING for i in new)
            if running >= target and st.deployment == DEPLOYING:
                await self._publish()
                await self._set_deployment(PAUSED)
                await self._event(
                    "app.deployment_paused",
                    f"{running} of {wanted} instance(s) run release "
                    f"v{st.deployment_revision}: continue or cancel the deployment",
                )
        for index in range(target):
            if room <= 0:
                break
            if not any(i.index == index for i in new) and now >= self._slot(index).restart_at:
                await self._start(index, now)
                room -= 1
        running_new = [
            i for i in st.instances if i.state == RUNNING and i.generation == st.generation
        ]
        old_left = any(i.generation != st.generation and i.state != DRAINING for i in st.instances)
        if (
            st.deployment == DEPLOYING
            and st.started
            and len(running_new) == wanted
            and not old_left
        ):
            await self._publish()  # routed and recorded before readers see the outcome
            st.previous = None
            await self._set_deployment(DEPLOYED)
            await self._event("app.deployed", f"all {wanted} instance(s) are running")

    async def _drain(self, inst: InstanceState, now: float) -> None:
        """Out of the router's rotation now; its server goes once its requests are done
        (at once if the app is stopping: nothing should reach it any more)."""
        if not self.st.started or self.st.deleting:
            await self._finish(inst)
            return
        inst.state, inst.drain_until = DRAINING, now + self.drain

    async def _finish(self, inst: InstanceState) -> None:
        """Keep the instance's last output, then remove it and delete its server."""
        if inst.host:
            await self._last_lines(inst)
        await self._remove(inst)

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
                instance_id,
                index,
                st.generation,
                plan.release_id,
                made.server_id,
                started_at=now,
                router_slot=self._free_member() if self._new() else -1,
            )
        )
        await self._record_instances()

    async def _refused(self, index: int, why: str) -> None:
        """An instance could not even be created (quota, a vanished image...)."""
        await self._event("app.start_failed", f"instance {index} could not be created: {why}")
        if self.st.deployment in ACTIVE:
            await self._roll_back(FAILED, f"instance {index} could not be created: {why}")
        else:
            self._slot(index).restart_at = workflow.now().timestamp() + self.backoff.first_seconds

    def _free_member(self) -> int:
        """The lowest router member number no instance holds."""
        taken = {i.member for i in self.st.instances}
        return next(n for n in range(len(taken) + 1) if n not in taken)

    async def _publish(self) -> None:
        members = [
            MemberInput(i.member, i.address, i.state == RUNNING)
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
                "STOPPING" if i.state == DRAINING else i.state,
                i.address or None,
                self._slot(i.index).crashes,
                dict(i.counts) or None,
                i.response_ms or None,
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
        if st.deployment_id:
            await run_local(
                PaasRecords.record_deployment,
                DeploymentRecord(
                    st.deployment_id,
                    st.app_id,
                    st.deployment_release,
                    st.deployment_revision,
                    st.deployment_previous,
                    st.strategy,
                    st.max_in_flight,
                    list(st.instance_steps),
                    st.step,
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
