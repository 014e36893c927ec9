"""Volumes that go with their server (``delete_on_termination``), for the boot-from-volume
undo and for DeleteServer."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.common import run_activity

with workflow.unsafe.imports_passed_through():
    from activities.compute import ServerRef
    from activities.volume_boot import VolumeBootRecords, VolumeIds
    from activities.volume_records import VolumeRecords, VolumeStatusInput
    from activities.volumes import VolumeActivities, VolumeRef


async def volumes_deleted_with(ref: ServerRef) -> tuple[str, ...]:
    """The server's volumes mapped with ``delete_on_termination`` (read before release)."""
    found: VolumeIds = await run_activity(VolumeBootRecords.volumes_deleted_with, ref)
    return found.volume_ids


async def delete_volumes(volume_ids: tuple[str, ...]) -> None:
    """Delete each volume (data, then row). One that cannot go (snapshots were cloned from
    it) is left available with the reason, as Nova leaves it, and the rest still go."""
    for volume_id in volume_ids:
        ref = VolumeRef(volume_id)
        try:
            await run_activity(VolumeActivities.delete_volume_data, ref)
        except ActivityError as exc:
            status = VolumeStatusInput(volume_id, "available", f"not deleted: {exc.cause or exc}")
            await run_activity(VolumeRecords.set_volume_status, status)
            continue
        await run_activity(VolumeRecords.mark_volume_deleted, ref)
