"""Server workflows: boot, delete, start, stop, console output."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import (
    QUICK,
    STEP_FAILED,
    all_of,
    reason,
    run_activity,
    run_local,
    server_workflow_id,
)
from workflows.netsync import (
    LEASES_BESIDE_LAUNCH,
    PLUG_IN_ONE_STEP,
    Plugging,
    plug_server,
    unplug_server,
)
from workflows.root_volumes import delete_volumes, volumes_deleted_with
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.compute import (
        ComputeActivities,
        ConfigDriveInput,
        ConsoleOutputInput,
        ConsoleOutputResult,
        CreateRootDiskInput,
        NicInput,
        PowerStateResult,
        ServerRef,
        StartDomainInput,
    )
    from activities.records import (
        BootPlan,
        DeletePlan,
        MarkActiveInput,
        MarkErrorInput,
        PlacedBoot,
        PlannedBoot,
        ServerRecords,
        SetPowerInput,
    )
    from activities.server_ports import ServerPortRecords, ServerPorts
    from activities.temporal_ops import TemporalOps, WorkflowRef
    from activities.volume_records import VolumeRecords
    from nimbus.config import host_queue


def hostname(name: str) -> str:
    """The guest's host name from the server's name, as Nova sanitizes it."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-.")[:63].strip("-")
    return cleaned or "server"


@dataclass(frozen=True)
class ServerInput:
    server_id: str


@dataclass(frozen=True)
class BootServerResult:
    server_id: str
    host: str


#: Long enough for a TCG guest under load to reach RUNNING; heartbeats catch a lost worker.
BOOT_WAIT = timedelta(minutes=5)
HEARTBEAT = timedelta(seconds=10)


async def _wait_running(ref: ServerRef, queue: str) -> PowerStateResult:
    """Wait for the domain to run; heartbeats let a lost worker's wait be retried soon."""
    result: PowerStateResult = await run_activity(
        ComputeActivities.wait_running,
        ref,
        queue,
        start_to_close_timeout=BOOT_WAIT,
        heartbeat_timeout=HEARTBEAT,
    )
    return result


@workflow.defn
class BootServer:
    """Root disk -> ports bound -> domain defined and started -> running -> ACTIVE, or
    all undone."""

    @workflow.run
    async def run(self, inp: ServerInput) -> BootServerResult:
        ref = ServerRef(inp.server_id)
        saga = release_ports_on_failure(inp.server_id)
        try:
            if workflow.patched(FAST_BOOT) and workflow.patched(LEASES_BESIDE_LAUNCH):
                planned: PlannedBoot | None = None
                if workflow.patched(PLANS_WITH_PLACEMENT):
                    planned = await run_local(ServerRecords.place_bind_and_plan, ref)
                    placed = planned.placed
                else:
                    placed = await run_local(ServerRecords.place_and_bind, ref)
                plan = placed.plan
                await self._build_beside(placed, saga, planned)
            elif workflow.patched(FAST_BOOT):
                plan = await run_local(ServerRecords.plan_boot, ref)
                await self._build_at_once(plan, saga)
            else:
                plan = await run_activity(ServerRecords.plan_boot, ref)
                await self._build(plan, saga)
            return BootServerResult(inp.server_id, plan.host)
        except STEP_FAILED as exc:
            failed = await saga.compensate()
            await run_activity(ServerRecords.mark_error, MarkErrorInput(inp.server_id, reason(exc)))
            raise ApplicationError(
                f"boot failed: {reason(exc)}; compensations failed: {failed or 'none'}",
                non_retryable=True,
            ) from exc

    async def _build(self, plan: BootPlan, saga: Saga) -> None:
        queue = host_queue(plan.host)
        ref = ServerRef(plan.server_id)
        saga.add(
            "delete_root_disk", lambda: run_activity(ComputeActivities.delete_root_disk, ref, queue)
        )
        disk = CreateRootDiskInput(plan.server_id, plan.image_location, plan.disk_gib)
        await run_activity(ComputeActivities.create_root_disk, disk, queue)
        await launch(plan, saga)

    async def _build_at_once(self, plan: BootPlan, saga: Saga) -> None:
        """The root disk is cloned while the ports are plugged, then the domain is
        launched in one step (``FAST_BOOT``)."""
        queue, ref = host_queue(plan.host), ServerRef(plan.server_id)
        saga.add(
            "delete_root_disk", lambda: run_activity(ComputeActivities.delete_root_disk, ref, queue)
        )
        disk = CreateRootDiskInput(plan.server_id, plan.image_location, plan.disk_gib)
        _, ports = await all_of(
            run_activity(ComputeActivities.create_root_disk, disk, queue), plug(plan, saga)
        )
        state = await start_on_disk(plan, saga, ports, launch_at_once=True)
        await run_local(
            ServerRecords.mark_active, MarkActiveInput(plan.server_id, state.power_state)
        )

    async def _build_beside(
        self, placed: PlacedBoot, saga: Saga, planned: PlannedBoot | None = None
    ) -> None:
        """Placed with its ports bound in one step, the root disk cloned beside the
        bridges and port filters, the domain launched as soon as those are in place,
        with DHCP leases and group members converging beside; then the server and its
        ports ACTIVE in one step (``LEASES_BESIDE_LAUNCH``). With the plans read at the
        placement, the clone is asked for first and the host's part of the ports is
        one step (``PLUG_IN_ONE_STEP``)."""
        plan, ports = placed.plan, placed.ports
        queue, ref = host_queue(plan.host), ServerRef(plan.server_id)
        saga.add(
            "delete_root_disk", lambda: run_activity(ComputeActivities.delete_root_disk, ref, queue)
        )
        saga.add("unplug_ports", lambda: unplug_server(plan.server_id, plan.host))
        disk = CreateRootDiskInput(plan.server_id, plan.image_location, plan.disk_gib)
        clone: Awaitable[None]
        if planned is not None and workflow.patched(PLUG_IN_ONE_STEP):
            clone = asyncio.ensure_future(
                run_activity(ComputeActivities.create_root_disk, disk, queue)
            )
            plugging = Plugging(ports, plan.host, planned, in_one_step=True)
        else:
            clone = run_activity(ComputeActivities.create_root_disk, disk, queue)
            plugging = Plugging(ports, plan.host, planned)

        async def build_and_launch() -> PowerStateResult:
            await all_of(clone, plugging.devices())
            return await start_on_disk(plan, saga, ports, launch_at_once=True, activate=False)

        state, _ = await all_of(build_and_launch(), plugging.leases())
        done = MarkActiveInput(plan.server_id, state.power_state, ports_active=True)
        await run_local(ServerRecords.mark_active, done)


#: Patch: a boot with fewer round trips through the Temporal server, which were most of
#: its cost beyond the work itself (``benchmarks/boot.py``): the database steps are local
#: activities, the root disk is cloned while the ports are plugged, and one activity
#: defines, starts and waits for the domain.
FAST_BOOT = "boot-fewer-round-trips"


#: Patch: the plans of a boot's bridges, filters and group members are read with its
#: placement and binding, in one local activity (``place_bind_and_plan``), rather than by
#: three more in the same first workflow task, which held back the root disk's clone.
PLANS_WITH_PLACEMENT = "boot-plans-with-placement"


#: Patch: a boot that fails releases the server's ports whatever step failed (placement
#: included), as Nova deallocates a failed build's network; before, only a failure after
#: they were plugged did.
RELEASE_PORTS = "failed-boot-releases-ports"


def release_ports_on_failure(server_id: str) -> Saga:
    """A boot's saga, whose last undo releases the server's ports (made for it: deleted;
    the user's: unbound)."""
    saga = Saga()
    if workflow.patched(RELEASE_PORTS):
        saga.add("release_ports", lambda: unplug_server(server_id, None))
    return saga


async def launch(plan: BootPlan, saga: Saga, root_volume_id: str | None = None) -> None:
    """Ports bound -> domain defined and started on its root disk -> running -> ACTIVE;
    each step's undo registered first. Shared by image- and volume-backed boots."""
    state = await run_on_disk(plan, saga, root_volume_id)
    await run_activity(
        ServerRecords.mark_active, MarkActiveInput(plan.server_id, state.power_state)
    )


async def run_on_disk(
    plan: BootPlan, saga: Saga, root_volume_id: str | None = None
) -> PowerStateResult:
    """Ports bound -> domain defined and started on its root disk -> running: a boot's
    steps before it is recorded ACTIVE (a rebuild's too)."""
    ports = await plug(plan, saga)
    return await start_on_disk(plan, saga, ports, root_volume_id)


async def plug(plan: BootPlan, saga: Saga) -> ServerPorts:
    """Bind the server's ports to its host, their undo registered first."""
    saga.add("unplug_ports", lambda: unplug_server(plan.server_id, plan.host))
    ports: ServerPorts = await plug_server(plan.server_id, plan.host)
    return ports


async def start_on_disk(
    plan: BootPlan,
    saga: Saga,
    ports: ServerPorts,
    root_volume_id: str | None = None,
    launch_at_once: bool = False,
    activate: bool = True,
) -> PowerStateResult:
    """Domain defined and started with the server's plugged ports -> running -> ports
    active (unless not to ``activate`` them yet); with ``launch_at_once``, the domain's
    start and wait are one activity."""
    queue, ref = host_queue(plan.host), ServerRef(plan.server_id)
    saga.add("destroy_domain", lambda: run_activity(ComputeActivities.destroy_domain, ref, queue))
    domain = StartDomainInput(
        plan.server_id,
        plan.vcpus,
        plan.memory_mib,
        nics=tuple(NicInput(n.port_id, n.mac, n.network_id, n.mtu) for n in ports.nics),
        config_drive=ConfigDriveInput(
            name=plan.name,
            hostname=hostname(plan.name),
            project_id=plan.project_id,
            metadata=plan.metadata,
            user_data=plan.user_data,
            public_keys=plan.public_keys,
        ),
        root_volume_id=root_volume_id,
        volumes=plan.volumes,
    )
    if launch_at_once:
        state: PowerStateResult = await run_activity(
            ComputeActivities.launch_domain,
            domain,
            queue,
            start_to_close_timeout=BOOT_WAIT,
            heartbeat_timeout=QUICK,
        )
    else:
        await run_activity(ComputeActivities.start_domain, domain, queue)
        state = await _wait_running(ref, queue)
    if activate:
        await run_local(ServerPortRecords.activate_ports, ref)
    return state


@workflow.defn
class DeleteServer:
    """Wait out a boot in flight -> destroy the domain -> delete the disk -> release the
    ports -> row deleted."""

    @workflow.run
    async def run(self, inp: ServerInput) -> None:
        ref = ServerRef(inp.server_id)
        boot = WorkflowRef(server_workflow_id(inp.server_id, "boot"))
        await run_activity(
            TemporalOps.await_workflow_closed,
            boot,
            start_to_close_timeout=BOOT_WAIT,
            heartbeat_timeout=HEARTBEAT,
        )
        plan: DeletePlan = await run_activity(ServerRecords.plan_delete, ref)
        if plan.host is not None:
            queue = host_queue(plan.host)
            await run_activity(ComputeActivities.destroy_domain, ref, queue)
            await run_activity(ComputeActivities.delete_root_disk, ref, queue)
        await unplug_server(inp.server_id, plan.host)
        doomed: tuple[str, ...] = ()
        if workflow.patched("delete-on-termination"):
            doomed = await volumes_deleted_with(ref)
        await run_activity(VolumeRecords.release_server_volumes, ref)
        await delete_volumes(doomed)
        await run_activity(ServerRecords.mark_deleted, ref)


@dataclass(frozen=True)
class PowerInput:
    server_id: str
    host: str


@workflow.defn
class StopServer:
    """Power the domain off -> SHUTOFF."""

    @workflow.run
    async def run(self, inp: PowerInput) -> None:
        ref = ServerRef(inp.server_id)
        await run_activity(ComputeActivities.stop_domain, ref, host_queue(inp.host))
        done = SetPowerInput(inp.server_id, "SHUTOFF", 4, task_state="powering-off")
        await run_activity(ServerRecords.set_power, done)


@workflow.defn
class StartServer:
    """Start the shut off domain -> running -> ACTIVE."""

    @workflow.run
    async def run(self, inp: PowerInput) -> None:
        ref, queue = ServerRef(inp.server_id), host_queue(inp.host)
        await run_activity(ComputeActivities.restart_domain, ref, queue)
        state = await _wait_running(ref, queue)
        power = SetPowerInput(inp.server_id, "ACTIVE", state.power_state, "powering-on")
        await run_activity(ServerRecords.set_power, power)


@dataclass(frozen=True)
class ConsoleInput:
    server_id: str
    host: str
    max_lines: int | None = None


@workflow.defn
class GetConsoleOutput:
    """Read the serial console on the server's host (a read, but host-bound)."""

    @workflow.run
    async def run(self, inp: ConsoleInput) -> str:
        result: ConsoleOutputResult = await run_activity(
            ComputeActivities.console_output,
            ConsoleOutputInput(inp.server_id, inp.max_lines),
            host_queue(inp.host),
        )
        return result.output


SERVER_WORKFLOWS = [BootServer, DeleteServer, StopServer, StartServer, GetConsoleOutput]
