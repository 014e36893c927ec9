"""Resize a server to another flavor on its host, then confirm or revert it, as Nova does
with ``allow_resize_to_same_host``:

- ResizeServer: domain destroyed -> the root disk snapshotted afresh (``@resize``) ->
  grown to the new flavor's size -> domain started with the new vCPUs and memory ->
  running -> VERIFY_RESIZE (powered off again if it was stopped).
- ConfirmResize: the snapshot dropped -> ACTIVE (or SHUTOFF) on the new flavor.
- RevertResize: the old flavor back -> domain destroyed -> the disk rolled back to the
  snapshot (its data and size as they were) -> snapshot dropped -> domain started as
  before -> ACTIVE (or SHUTOFF).

A failure leaves the server in ERROR with the reason; the snapshot stays, so an operator
can still roll the disk back."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import STEP_FAILED, reason, run_activity
from workflows.saga import Saga
from workflows.server import run_on_disk

with workflow.unsafe.imports_passed_through():
    from activities.compute import (
        ComputeActivities,
        CreateRootDiskInput,
        RootSnapshotInput,
        ServerRef,
    )
    from activities.records import (
        BootPlan,
        DeletePlan,
        MarkErrorInput,
        ServerRecords,
        SetPowerInput,
    )
    from nimbus.config import host_queue

RESIZING, REVERTING = "resize_prep", "resize_reverting"
SNAPSHOT = "resize"


@dataclass(frozen=True)
class ResizeInput:
    server_id: str
    #: Whether the server was SHUTOFF: it is powered off again afterwards.
    stopped: bool = False


async def start_again(
    plan: BootPlan, stopped: bool, root_volume_id: str | None = None
) -> tuple[str, int]:
    """Start the domain on its disk (or root volume) with the plan's flavor, powered off
    again if it was stopped; the status it ends in."""
    state = await run_on_disk(plan, Saga(), root_volume_id)
    if stopped:
        ref = ServerRef(plan.server_id)
        await run_activity(ComputeActivities.stop_domain, ref, host_queue(plan.host))
        return "SHUTOFF", 4
    return "ACTIVE", state.power_state


async def mark_failed(server_id: str, what: str, exc: BaseException) -> ApplicationError:
    await run_activity(ServerRecords.mark_error, MarkErrorInput(server_id, reason(exc)))
    return ApplicationError(f"{what} failed: {reason(exc)}", non_retryable=True)


@workflow.defn
class ResizeServer:
    @workflow.run
    async def run(self, inp: ResizeInput) -> None:
        ref = ServerRef(inp.server_id)
        try:
            plan: BootPlan = await run_activity(ServerRecords.plan_resize, ref)
            queue = host_queue(plan.host)
            await run_activity(ComputeActivities.destroy_domain, ref, queue)
            snap = RootSnapshotInput(inp.server_id, SNAPSHOT)
            # One an earlier resize that failed left behind is stale: a revert must come
            # back to the disk as it is now.
            await run_activity(ComputeActivities.drop_root_snapshot, snap, queue)
            await run_activity(ComputeActivities.snapshot_root_disk, snap, queue)
            grow = CreateRootDiskInput(plan.server_id, plan.image_location, plan.disk_gib)
            await run_activity(ComputeActivities.create_root_disk, grow, queue)
            _, power = await start_again(plan, inp.stopped)
        except STEP_FAILED as exc:
            raise await mark_failed(inp.server_id, "resize", exc) from exc
        done = SetPowerInput(inp.server_id, "VERIFY_RESIZE", power, task_state=RESIZING)
        await run_activity(ServerRecords.set_power, done)


@workflow.defn
class ConfirmResize:
    @workflow.run
    async def run(self, inp: ResizeInput) -> None:
        ref = ServerRef(inp.server_id)
        try:
            where: DeletePlan = await run_activity(ServerRecords.plan_delete, ref)
            if where.host is not None:
                snap = RootSnapshotInput(inp.server_id, SNAPSHOT)
                queue = host_queue(where.host)
                await run_activity(ComputeActivities.drop_root_snapshot, snap, queue)
        except STEP_FAILED as exc:
            raise await mark_failed(inp.server_id, "confirming the resize", exc) from exc
        await run_activity(ServerRecords.confirm_resize, ref)


@workflow.defn
class RevertResize:
    @workflow.run
    async def run(self, inp: ResizeInput) -> None:
        ref = ServerRef(inp.server_id)
        try:
            await run_activity(ServerRecords.revert_flavor, ref)
            plan: BootPlan = await run_activity(ServerRecords.plan_resize, ref)
            queue = host_queue(plan.host)
            await run_activity(ComputeActivities.destroy_domain, ref, queue)
            snap = RootSnapshotInput(inp.server_id, SNAPSHOT)
            await run_activity(ComputeActivities.rollback_root_disk, snap, queue)
            await run_activity(ComputeActivities.drop_root_snapshot, snap, queue)
            status, power = await start_again(plan, inp.stopped)
        except STEP_FAILED as exc:
            raise await mark_failed(inp.server_id, "reverting the resize", exc) from exc
        done = SetPowerInput(inp.server_id, status, power, task_state=REVERTING)
        await run_activity(ServerRecords.set_power, done)
