"""Pause, unpause, suspend and resume a server: one domain step, then the new status.

Each is its own operation (``server-<id>-pause`` ...), started again and again; a step
that fails puts the server back where it was, with the reason in the history."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import STEP_FAILED, reason, run_activity
from workflows.server import _wait_running

with workflow.unsafe.imports_passed_through():
    from activities.compute import ComputeActivities, ServerRef
    from activities.records import ServerRecords, SetPowerInput
    from nimbus.config import host_queue

#: Each action's domain step and the status it ends in (Nova's vm and power states).
STEPS = {
    "pause": (ComputeActivities.pause_domain, "PAUSED", 3),
    "unpause": (ComputeActivities.unpause_domain, "ACTIVE", 1),
    "suspend": (ComputeActivities.save_domain, "SUSPENDED", 7),
    "resume": (ComputeActivities.restart_domain, "ACTIVE", 1),
}


#: Each action's task state while it runs (set by the API).
TASKS = {"pause": "pausing", "unpause": "unpausing", "suspend": "suspending", "resume": "resuming"}


@dataclass(frozen=True)
class StateInput:
    server_id: str
    host: str
    action: str
    #: Where the server was, to return to if the step fails.
    status: str
    power_state: int


@workflow.defn
class ChangeServerState:
    """Domain step (pause, unpause, managed save, or start from it) -> new status."""

    @workflow.run
    async def run(self, inp: StateInput) -> None:
        step, status, power = STEPS[inp.action]
        ref, queue = ServerRef(inp.server_id), host_queue(inp.host)
        try:
            await run_activity(step, ref, queue)
            if inp.action == "resume":
                power = (await _wait_running(ref, queue)).power_state
        except STEP_FAILED as exc:
            back = SetPowerInput(inp.server_id, inp.status, inp.power_state, TASKS[inp.action])
            await run_activity(ServerRecords.set_power, back)
            raise ApplicationError(
                f"{inp.action} failed: {reason(exc)}", non_retryable=True
            ) from exc
        done = SetPowerInput(inp.server_id, status, power, TASKS[inp.action])
        await run_activity(ServerRecords.set_power, done)
