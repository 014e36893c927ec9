"""Rebuild a server on the same host from an image (the same or a new one), keeping its
id, ports and addresses, as Nova does: domain destroyed -> old root disk deleted -> a new
one cloned from the image -> domain started on it -> running -> ACTIVE (or SHUTOFF again
when it was stopped). The old disk is gone once deleted; a failure after that leaves the
server in ERROR with the reason, from which it can be rebuilt again."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import STEP_FAILED, reason, run_activity
from workflows.saga import Saga
from workflows.server import run_on_disk

with workflow.unsafe.imports_passed_through():
    from activities.compute import ComputeActivities, CreateRootDiskInput, ServerRef
    from activities.records import BootPlan, MarkErrorInput, ServerRecords, SetPowerInput
    from nimbus.config import host_queue

#: The server's task while it is rebuilt (set by the API).
REBUILDING = "rebuilding"


@dataclass(frozen=True)
class RebuildInput:
    server_id: str
    #: Whether the server was SHUTOFF: it is powered off again once rebuilt.
    stopped: bool = False


@workflow.defn
class RebuildServer:
    @workflow.run
    async def run(self, inp: RebuildInput) -> None:
        ref = ServerRef(inp.server_id)
        try:
            plan: BootPlan = await run_activity(ServerRecords.plan_rebuild, ref)
            queue = host_queue(plan.host)
            await run_activity(ComputeActivities.destroy_domain, ref, queue)
            await run_activity(ComputeActivities.delete_root_disk, ref, queue)
            disk = CreateRootDiskInput(plan.server_id, plan.image_location, plan.disk_gib)
            await run_activity(ComputeActivities.create_root_disk, disk, queue)
            state = await run_on_disk(plan, Saga())
            status, power = "ACTIVE", state.power_state
            if inp.stopped:
                await run_activity(ComputeActivities.stop_domain, ref, queue)
                status, power = "SHUTOFF", 4
        except STEP_FAILED as exc:
            await run_activity(ServerRecords.mark_error, MarkErrorInput(inp.server_id, reason(exc)))
            raise ApplicationError(f"rebuild failed: {reason(exc)}", non_retryable=True) from exc
        done = SetPowerInput(inp.server_id, status, power, task_state=REBUILDING)
        await run_activity(ServerRecords.set_power, done)
