"""Lock and unlock a server (Nova's ``lock``/``unlock`` actions), each a workflow of one
step so that it is an instance action with its own history, as every other server action
is: the lock recorded (with its reason and who set it) or lifted."""

from __future__ import annotations

from temporalio import workflow

from workflows.common import run_activity

with workflow.unsafe.imports_passed_through():
    from activities.records import LockInput, ServerRecords


@workflow.defn
class LockServer:
    @workflow.run
    async def run(self, inp: LockInput) -> None:
        await run_activity(ServerRecords.set_lock, inp)
