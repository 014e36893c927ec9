"""Moving a server to another host. Every root disk and volume is in Ceph, which every
host reaches, so a move carries no data: the domain is started on the other host from
the same disk, with the same ports (and so the same addresses).

- MigrateServer (Nova's cold ``migrate``): a destination claimed by the scheduler (or
  the admin's host, if it passes the filters) -> the domain destroyed on the source and
  its ports' filters taken off there -> the server recorded on the destination -> ports
  bound there, domain started -> running (powered off again if it was stopped) ->
  VERIFY_RESIZE. Both hosts hold its resources until it is confirmed or reverted.
- ConfirmMigration: the source's hold released -> ACTIVE (or SHUTOFF).
- RevertMigration: off the destination -> back on the source, started -> ACTIVE (or
  SHUTOFF).
- EvacuateServer (Nova's ``evacuate``): the server's host is down, so nothing runs
  there: a destination claimed -> the server recorded on it -> ports bound there, domain
  started on the same disk -> ACTIVE (or SHUTOFF). The source host destroys the domain
  it still has when its agent comes back (``HostAgent.clean_evacuated``).

A migration that finds no host leaves the server running where it was (its migration in
``error``); one that fails after leaving the source brings it back there; a failure that
cannot be undone leaves the server in ERROR with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.common import STEP_FAILED, reason, run_activity
from workflows.netsync import unfilter
from workflows.server_resize import start_again

with workflow.unsafe.imports_passed_through():
    from activities.compute import ComputeActivities, ServerRef
    from activities.moves import (
        EVACUATING,
        MIGRATING,
        REVERTING,
        FailMoveInput,
        FinishMoveInput,
        MovePlan,
        MoveRecords,
        MoveRef,
    )
    from activities.records import BootPlan
    from activities.server_ports import ServerPorts
    from nimbus.config import host_queue


@dataclass(frozen=True)
class MoveInput:
    server_id: str
    migration_id: int
    #: Whether the server was SHUTOFF: it is powered off again on arrival.
    stopped: bool = False


def _status(stopped: bool) -> str:
    return "SHUTOFF" if stopped else "ACTIVE"


async def leave(server_id: str, host: str) -> None:
    """Nothing of the server left running on ``host``: its domain destroyed (its disk
    stays, in Ceph) and its ports' filters taken off."""
    ref = ServerRef(server_id)
    await run_activity(ComputeActivities.destroy_domain, ref, host_queue(host))
    ports: ServerPorts = await run_activity(MoveRecords.server_ports, ref)
    for nic in ports.nics:
        await unfilter(nic.port_id, host)


async def arrive(move: MoveRef, stopped: bool, to_source: bool = False) -> int:
    """Record the server on its destination (or back on its source) and start it there
    on its disk; its power state."""
    step = MoveRecords.move_to_source if to_source else MoveRecords.move_to_destination
    plan: BootPlan = await run_activity(step, move)
    _, power = await start_again(plan, stopped, plan.root_volume_id)
    return power


async def _claim(inp: MoveInput, task: str, what: str, stays: bool) -> MovePlan:
    """The destination, or the move fails: the server stays as it was (``stays``), or
    is ERROR."""
    move = MoveRef(inp.server_id, inp.migration_id)
    try:
        plan: MovePlan = await run_activity(MoveRecords.claim_destination, move)
        return plan
    except STEP_FAILED as exc:
        failed = FailMoveInput(
            inp.server_id, inp.migration_id, task, reason(exc), stays, _status(inp.stopped)
        )
        await run_activity(MoveRecords.fail, failed)
        raise ApplicationError(f"{what} failed: {reason(exc)}", non_retryable=True) from exc


@workflow.defn
class MigrateServer:
    @workflow.run
    async def run(self, inp: MoveInput) -> str:
        move = MoveRef(inp.server_id, inp.migration_id)
        plan = await _claim(inp, MIGRATING, "migration", stays=True)
        try:
            await leave(inp.server_id, plan.source)
            power = await arrive(move, inp.stopped)
        except STEP_FAILED as exc:
            message = f"migration to {plan.dest} failed: {reason(exc)}"
            stayed = True
            try:
                await leave(inp.server_id, plan.dest)
                await arrive(move, inp.stopped, to_source=True)
            except STEP_FAILED as undo:
                message += f"; starting it again on {plan.source} failed: {reason(undo)}"
                stayed = False
            failed = FailMoveInput(
                inp.server_id, inp.migration_id, MIGRATING, message, stayed, _status(inp.stopped)
            )
            await run_activity(MoveRecords.fail, failed)
            raise ApplicationError(message, non_retryable=True) from exc
        done = FinishMoveInput(
            inp.server_id, inp.migration_id, MIGRATING, "VERIFY_RESIZE", power, "finished"
        )
        await run_activity(MoveRecords.finish, done)
        return plan.dest


@workflow.defn
class ConfirmMigration:
    @workflow.run
    async def run(self, inp: MoveInput) -> None:
        done = FinishMoveInput(
            inp.server_id,
            inp.migration_id,
            None,
            _status(inp.stopped),
            4 if inp.stopped else 1,
            "confirmed",
        )
        await run_activity(MoveRecords.finish, done)


@workflow.defn
class RevertMigration:
    @workflow.run
    async def run(self, inp: MoveInput) -> None:
        move = MoveRef(inp.server_id, inp.migration_id)
        plan: MovePlan = await run_activity(MoveRecords.claim_destination, move)
        try:
            await leave(inp.server_id, plan.dest)
            power = await arrive(move, inp.stopped, to_source=True)
        except STEP_FAILED as exc:
            message = f"reverting the migration failed: {reason(exc)}"
            failed = FailMoveInput(inp.server_id, inp.migration_id, REVERTING, message)
            await run_activity(MoveRecords.fail, failed)
            raise ApplicationError(message, non_retryable=True) from exc
        done = FinishMoveInput(
            inp.server_id, inp.migration_id, REVERTING, _status(inp.stopped), power, "reverted"
        )
        await run_activity(MoveRecords.finish, done)


@workflow.defn
class EvacuateServer:
    @workflow.run
    async def run(self, inp: MoveInput) -> str:
        move = MoveRef(inp.server_id, inp.migration_id)
        plan = await _claim(inp, EVACUATING, "evacuation", stays=False)
        try:
            power = await arrive(move, inp.stopped)
        except STEP_FAILED as exc:
            message = f"evacuation to {plan.dest} failed: {reason(exc)}"
            try:
                await leave(inp.server_id, plan.dest)
            except STEP_FAILED as undo:
                message += f"; cleaning {plan.dest} failed: {reason(undo)}"
            failed = FailMoveInput(inp.server_id, inp.migration_id, EVACUATING, message)
            await run_activity(MoveRecords.fail, failed)
            raise ApplicationError(message, non_retryable=True) from exc
        done = FinishMoveInput(
            inp.server_id, inp.migration_id, EVACUATING, _status(inp.stopped), power, "done"
        )
        await run_activity(MoveRecords.finish, done)
        return plan.dest


MOVE_WORKFLOWS = [MigrateServer, ConfirmMigration, RevertMigration, EvacuateServer]
