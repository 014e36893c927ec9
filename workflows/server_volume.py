"""Boot from volume: a server whose root disk is a Cinder volume (Nova's
``block_device_mapping_v2`` with ``destination_type: volume`` at boot index 0).

The volume is either made for the server (from an image or a volume snapshot) or an
existing one the API reserved. It is attached as the root before the domain starts, and
outlives the server unless it was mapped with ``delete_on_termination``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.common import reason, run_activity
from workflows.root_volumes import delete_volumes
from workflows.saga import Saga
from workflows.server import BootServerResult, launch, release_ports_on_failure

with workflow.unsafe.imports_passed_through():
    from activities.compute import ServerRef
    from activities.records import BootPlan, MarkErrorInput, ServerRecords
    from activities.volume_boot import RootVolumeInput, VolumeBootRecords
    from activities.volume_records import VolumeRecords, VolumeStatusInput
    from activities.volumes import CreateVolumeDataInput, VolumeActivities

_Failure = (ActivityError, asyncio.CancelledError)


@dataclass(frozen=True)
class VolumeBootInput:
    server_id: str
    volume_id: str
    #: The volume to make first, from an image or a snapshot; ``None``: it exists.
    create: CreateVolumeDataInput | None = None
    delete_on_termination: bool = False


@workflow.defn
class BootVolumeServer:
    """Root volume made (if asked) -> attached as the root -> ports -> domain -> ACTIVE;
    on failure all undone: a volume made here is deleted only with delete_on_termination,
    as Nova does, and is otherwise left in error or available."""

    @workflow.run
    async def run(self, inp: VolumeBootInput) -> BootServerResult:
        ref, saga = ServerRef(inp.server_id), release_ports_on_failure(inp.server_id)
        try:
            plan: BootPlan = await run_activity(VolumeBootRecords.plan_volume_boot, ref)
            await self._root(inp, plan, saga)
            await launch(plan, saga, root_volume_id=inp.volume_id)
            return BootServerResult(inp.server_id, plan.host)
        except _Failure as exc:
            failed = await saga.compensate()
            await run_activity(ServerRecords.mark_error, MarkErrorInput(inp.server_id, reason(exc)))
            raise ApplicationError(
                f"boot from volume failed: {reason(exc)}; compensations failed: {failed or 'none'}",
                non_retryable=True,
            ) from exc

    async def _root(self, inp: VolumeBootInput, plan: BootPlan, saga: Saga) -> None:
        ref = ServerRef(inp.server_id)
        if inp.create is not None and inp.delete_on_termination:
            saga.add("delete_root_volume", lambda: delete_volumes((inp.volume_id,)))
        saga.add("release_root_volume", lambda: _release(ref, inp.volume_id))
        if inp.create is not None:
            await run_activity(VolumeActivities.create_volume_data, inp.create)
        root = RootVolumeInput(inp.server_id, inp.volume_id, plan.host, inp.delete_on_termination)
        await run_activity(VolumeBootRecords.attach_root, root)


async def _release(ref: ServerRef, volume_id: str) -> None:
    """The root attachment removed and the volume available again (reserved, being made
    or attached: the boot that held it is undone)."""
    await run_activity(VolumeRecords.release_server_volumes, ref)
    await run_activity(VolumeRecords.set_volume_status, VolumeStatusInput(volume_id, "available"))
