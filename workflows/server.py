"""Server workflows: boot, delete, start, stop, console output."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.common import QUICK, RETRY, server_workflow_id
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.compute import (
        ComputeActivities,
        ConsoleOutputInput,
        ConsoleOutputResult,
        CreateRootDiskInput,
        PowerStateResult,
        ServerRef,
        StartDomainInput,
    )
    from activities.records import (
        BootPlan,
        DeletePlan,
        MarkActiveInput,
        MarkErrorInput,
        ServerRecords,
        SetPowerInput,
    )
    from activities.temporal_ops import TemporalOps, WorkflowRef
    from nimbus.config import host_queue


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


async def _run(fn: Any, arg: Any, queue: str | None = None, **kw: Any) -> Any:
    """Execute one activity method with the house timeouts and retry policy."""
    kw.setdefault("start_to_close_timeout", QUICK)
    return await workflow.execute_activity_method(
        fn, arg, task_queue=queue, retry_policy=RETRY, **kw
    )


async def _wait_running(ref: ServerRef, queue: str) -> PowerStateResult:
    """Wait for the domain to run; heartbeats let a lost worker's wait be retried soon."""
    result: PowerStateResult = await _run(
        ComputeActivities.wait_running,
        ref,
        queue,
        start_to_close_timeout=BOOT_WAIT,
        heartbeat_timeout=HEARTBEAT,
    )
    return result


def _reason(exc: BaseException) -> str:
    """The message a user should see in the server's fault."""
    if isinstance(exc, asyncio.CancelledError):
        return "boot was cancelled"
    cause = exc.cause if isinstance(exc, ActivityError) and exc.cause else exc
    return getattr(cause, "message", None) or str(cause)


@workflow.defn
class BootServer:
    """Root disk -> domain defined and started -> running -> ACTIVE, or all undone."""

    @workflow.run
    async def run(self, inp: ServerInput) -> BootServerResult:
        ref = ServerRef(inp.server_id)
        saga = Saga()
        try:
            plan: BootPlan = await _run(ServerRecords.plan_boot, ref)
            await self._build(plan, saga)
            return BootServerResult(inp.server_id, plan.host)
        except (ActivityError, asyncio.CancelledError) as exc:
            failed = await saga.compensate()
            await _run(ServerRecords.mark_error, MarkErrorInput(inp.server_id, _reason(exc)))
            raise ApplicationError(
                f"boot failed: {_reason(exc)}; compensations failed: {failed or 'none'}",
                non_retryable=True,
            ) from exc

    async def _build(self, plan: BootPlan, saga: Saga) -> None:
        queue = host_queue(plan.host)
        ref = ServerRef(plan.server_id)
        saga.add("delete_root_disk", lambda: _run(ComputeActivities.delete_root_disk, ref, queue))
        disk = CreateRootDiskInput(plan.server_id, plan.image_path, plan.disk_gib)
        await _run(ComputeActivities.create_root_disk, disk, queue)
        saga.add("destroy_domain", lambda: _run(ComputeActivities.destroy_domain, ref, queue))
        domain = StartDomainInput(plan.server_id, plan.vcpus, plan.memory_mib)
        await _run(ComputeActivities.start_domain, domain, queue)
        state = await _wait_running(ref, queue)
        await _run(ServerRecords.mark_active, MarkActiveInput(plan.server_id, state.power_state))


@workflow.defn
class DeleteServer:
    """Wait out a boot in flight -> destroy the domain -> delete the disk -> row deleted."""

    @workflow.run
    async def run(self, inp: ServerInput) -> None:
        ref = ServerRef(inp.server_id)
        boot = WorkflowRef(server_workflow_id(inp.server_id, "boot"))
        await _run(
            TemporalOps.await_workflow_closed,
            boot,
            start_to_close_timeout=BOOT_WAIT,
            heartbeat_timeout=HEARTBEAT,
        )
        plan: DeletePlan = await _run(ServerRecords.plan_delete, ref)
        if plan.host is not None:
            queue = host_queue(plan.host)
            await _run(ComputeActivities.destroy_domain, ref, queue)
            await _run(ComputeActivities.delete_root_disk, ref, queue)
        await _run(ServerRecords.mark_deleted, ref)


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
        await _run(ComputeActivities.stop_domain, ref, host_queue(inp.host))
        await _run(ServerRecords.set_power, SetPowerInput(inp.server_id, "SHUTOFF", 4))


@workflow.defn
class StartServer:
    """Start the shut off domain -> running -> ACTIVE."""

    @workflow.run
    async def run(self, inp: PowerInput) -> None:
        ref, queue = ServerRef(inp.server_id), host_queue(inp.host)
        await _run(ComputeActivities.restart_domain, ref, queue)
        state = await _wait_running(ref, queue)
        power = SetPowerInput(inp.server_id, "ACTIVE", state.power_state)
        await _run(ServerRecords.set_power, power)


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
        result: ConsoleOutputResult = await _run(
            ComputeActivities.console_output,
            ConsoleOutputInput(inp.server_id, inp.max_lines),
            host_queue(inp.host),
        )
        return result.output


WORKFLOWS = [BootServer, DeleteServer, StopServer, StartServer, GetConsoleOutput]
