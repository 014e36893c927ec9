"""Reboot a server, as Nova does: SOFT asks the guest to power off and waits a bounded
time before falling back to HARD, which powers the domain off and starts it again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import STEP_FAILED, reason, run_activity
from workflows.server import HEARTBEAT, _wait_running

with workflow.unsafe.imports_passed_through():
    from activities.compute import ComputeActivities, GracefulStopInput, ServerRef
    from activities.records import MarkErrorInput, ServerRecords, SetPowerInput
    from nimbus.config import host_queue


@dataclass(frozen=True)
class RebootInput:
    server_id: str
    host: str
    hard: bool
    #: How long a SOFT reboot waits for the guest before it powers the domain off.
    soft_seconds: float = 60.0


@workflow.defn
class RebootServer:
    """(SOFT: graceful power off, bounded) -> hard power off -> start -> running ->
    ACTIVE; a domain that will not start leaves the server in ERROR with the reason."""

    @workflow.run
    async def run(self, inp: RebootInput) -> bool:
        ref, queue = ServerRef(inp.server_id), host_queue(inp.host)
        try:
            graceful = False
            if not inp.hard:
                graceful = await run_activity(
                    ComputeActivities.stop_gracefully,
                    GracefulStopInput(inp.server_id, inp.soft_seconds),
                    queue,
                    start_to_close_timeout=timedelta(seconds=inp.soft_seconds + 60),
                    heartbeat_timeout=HEARTBEAT,
                )
            await run_activity(ComputeActivities.stop_domain, ref, queue)
            await run_activity(ComputeActivities.restart_domain, ref, queue)
            state = await _wait_running(ref, queue)
        except STEP_FAILED as exc:
            await run_activity(ServerRecords.mark_error, MarkErrorInput(inp.server_id, reason(exc)))
            raise ApplicationError(f"reboot failed: {reason(exc)}", non_retryable=True) from exc
        task = "reboot_started_hard" if inp.hard else "reboot_started"
        power = SetPowerInput(inp.server_id, "ACTIVE", state.power_state, task)
        await run_activity(ServerRecords.set_power, power)
        return bool(graceful)
