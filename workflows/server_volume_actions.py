"""Rebuild and resize of a volume-backed server, as Nova does them before 2.93: the root
volume is kept as it is (never re-imaged, never resized), and the domain is defined again
on it with the server's new name, metadata and key (rebuild) or flavor (resize).

- RebuildVolumeServer: domain destroyed -> started again on the root volume -> running
  -> ACTIVE (or SHUTOFF again).
- ResizeVolumeServer: domain destroyed -> started with the new vCPUs and memory ->
  VERIFY_RESIZE. ConfirmResize then only records the flavor (there is no disk snapshot
  to drop: a missing one is success).
- RevertVolumeResize: the old flavor back -> domain destroyed -> started as before.

A failure leaves the server in ERROR with the reason; its root volume is untouched.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import STEP_FAILED, run_activity
from workflows.server_rebuild import REBUILDING, RebuildInput
from workflows.server_resize import RESIZING, REVERTING, ResizeInput, mark_failed, start_again

with workflow.unsafe.imports_passed_through():
    from activities.compute import ComputeActivities, ServerRef
    from activities.records import BootPlan, ServerRecords, SetPowerInput
    from nimbus.config import host_queue


async def _again_on_volume(plan: BootPlan, stopped: bool) -> tuple[str, int]:
    """Destroy the domain and start it again on the root volume; the status it ends in."""
    ref, queue = ServerRef(plan.server_id), host_queue(plan.host)
    if plan.root_volume_id is None:
        raise ApplicationError(f"server {plan.server_id} has no root volume", non_retryable=True)
    await run_activity(ComputeActivities.destroy_domain, ref, queue)
    return await start_again(plan, stopped, plan.root_volume_id)


@workflow.defn
class RebuildVolumeServer:
    @workflow.run
    async def run(self, inp: RebuildInput) -> None:
        try:
            plan: BootPlan = await run_activity(
                ServerRecords.plan_rebuild, ServerRef(inp.server_id)
            )
            status, power = await _again_on_volume(plan, inp.stopped)
        except STEP_FAILED as exc:
            raise await mark_failed(inp.server_id, "rebuild", exc) from exc
        done = SetPowerInput(inp.server_id, status, power, task_state=REBUILDING)
        await run_activity(ServerRecords.set_power, done)


@workflow.defn
class ResizeVolumeServer:
    @workflow.run
    async def run(self, inp: ResizeInput) -> None:
        try:
            plan: BootPlan = await run_activity(ServerRecords.plan_resize, ServerRef(inp.server_id))
            _, power = await _again_on_volume(plan, inp.stopped)
        except STEP_FAILED as exc:
            raise await mark_failed(inp.server_id, "resize", exc) from exc
        done = SetPowerInput(inp.server_id, "VERIFY_RESIZE", power, task_state=RESIZING)
        await run_activity(ServerRecords.set_power, done)


@workflow.defn
class RevertVolumeResize:
    @workflow.run
    async def run(self, inp: ResizeInput) -> None:
        ref = ServerRef(inp.server_id)
        try:
            await run_activity(ServerRecords.revert_flavor, ref)
            plan: BootPlan = await run_activity(ServerRecords.plan_resize, ref)
            status, power = await _again_on_volume(plan, inp.stopped)
        except STEP_FAILED as exc:
            raise await mark_failed(inp.server_id, "reverting the resize", exc) from exc
        done = SetPowerInput(inp.server_id, status, power, task_state=REVERTING)
        await run_activity(ServerRecords.set_power, done)
