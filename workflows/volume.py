"""Volume workflows: create, extend, delete, snapshots, revert, attach and detach."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.common import reason, run_activity, user_error
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.volume_records import (
        Attachment,
        AttachPlan,
        AttachRef,
        SnapshotStatusInput,
        VolumeRecords,
        VolumeStatusInput,
    )
    from activities.volumes import (
        AttachActivities,
        CreateVolumeDataInput,
        ExtendVolumeDataInput,
        PlugInput,
        SnapshotRef,
        VolumeActivities,
        VolumeRef,
    )
    from nimbus.config import host_queue

_Failure = (ActivityError, asyncio.CancelledError)

#: The driver waits up to 30 s for the guest to release a disk; one attempt may take longer.
UNPLUG_TIMEOUT = timedelta(seconds=90)


def _status(
    volume_id: str, status: str, fault: str | None = None, size_gib: int | None = None
) -> VolumeStatusInput:
    return VolumeStatusInput(volume_id, status, fault, size_gib)


@workflow.defn
class CreateVolume:
    """Volume data (blank or a clone) -> available; on failure nothing left, status error."""

    @workflow.run
    async def run(self, inp: CreateVolumeDataInput) -> None:
        ref = VolumeRef(inp.volume_id)
        saga = Saga()
        try:
            saga.add(
                "delete_volume_data", lambda: run_activity(VolumeActivities.delete_volume_data, ref)
            )
            await run_activity(VolumeActivities.create_volume_data, inp)
            await run_activity(VolumeRecords.set_volume_status, _status(inp.volume_id, "available"))
        except _Failure as exc:
            await saga.compensate()
            await run_activity(
                VolumeRecords.set_volume_status, _status(inp.volume_id, "error", reason(exc))
            )
            raise user_error("volume create failed", exc) from exc


@workflow.defn
class ExtendVolume:
    """Grow the data -> available at the new size; on failure back to available."""

    @workflow.run
    async def run(self, inp: ExtendVolumeDataInput) -> None:
        try:
            await run_activity(VolumeActivities.extend_volume_data, inp)
        except _Failure as exc:
            await run_activity(
                VolumeRecords.set_volume_status, _status(inp.volume_id, "available", reason(exc))
            )
            raise user_error("volume extend failed", exc) from exc
        await run_activity(
            VolumeRecords.set_volume_status,
            _status(inp.volume_id, "available", size_gib=inp.size_gib),
        )


@workflow.defn
class DeleteVolume:
    """Remove the data -> row deleted; refused data (clones exist) -> error_deleting."""

    @workflow.run
    async def run(self, inp: VolumeRef) -> None:
        try:
            await run_activity(VolumeActivities.delete_volume_data, inp)
        except _Failure as exc:
            await run_activity(
                VolumeRecords.set_volume_status,
                _status(inp.volume_id, "error_deleting", reason(exc)),
            )
            raise user_error("volume delete failed", exc) from exc
        await run_activity(VolumeRecords.mark_volume_deleted, inp)


@workflow.defn
class CreateSnapshot:
    """Protected RBD snapshot -> available; on failure error."""

    @workflow.run
    async def run(self, inp: SnapshotRef) -> None:
        try:
            await run_activity(VolumeActivities.create_snapshot_data, inp)
        except _Failure as exc:
            await run_activity(
                VolumeRecords.set_snapshot_status, SnapshotStatusInput(inp.snapshot_id, "error")
            )
            raise user_error("snapshot failed", exc) from exc
        await run_activity(
            VolumeRecords.set_snapshot_status, SnapshotStatusInput(inp.snapshot_id, "available")
        )


@workflow.defn
class DeleteSnapshot:
    """Remove the snapshot -> deleted; refused while volumes are cloned from it."""

    @workflow.run
    async def run(self, inp: SnapshotRef) -> None:
        try:
            await run_activity(VolumeActivities.delete_snapshot_data, inp)
        except _Failure as exc:
            await run_activity(
                VolumeRecords.set_snapshot_status, SnapshotStatusInput(inp.snapshot_id, "available")
            )
            raise user_error("snapshot delete refused", exc) from exc
        await run_activity(
            VolumeRecords.set_snapshot_status, SnapshotStatusInput(inp.snapshot_id, "deleted")
        )


@workflow.defn
class RevertVolume:
    """Roll the volume back to its latest snapshot -> both available; on failure the
    volume is error (a rollback may have stopped half-way), the snapshot available."""

    @workflow.run
    async def run(self, inp: SnapshotRef) -> None:
        available = SnapshotStatusInput(inp.snapshot_id, "available")
        try:
            await run_activity(VolumeActivities.revert_volume_data, inp)
        except _Failure as exc:
            await run_activity(VolumeRecords.set_snapshot_status, available)
            await run_activity(
                VolumeRecords.set_volume_status, _status(inp.volume_id, "error", reason(exc))
            )
            raise user_error("volume revert failed", exc) from exc
        await run_activity(VolumeRecords.set_snapshot_status, available)
        await run_activity(VolumeRecords.set_volume_status, _status(inp.volume_id, "available"))


@dataclass(frozen=True)
class AttachVolumeInput:
    volume_id: str
    server_id: str
    tag: str | None = None
    delete_on_termination: bool = False


@workflow.defn
class AttachVolume:
    """Plan the device -> hot-plug on the server's host -> in-use; or unplug, available."""

    @workflow.run
    async def run(self, inp: AttachVolumeInput) -> str:
        saga = Saga()
        try:
            plan: AttachPlan = await run_activity(
                VolumeRecords.plan_attach, AttachRef(inp.volume_id, inp.server_id)
            )
            plug, queue = (
                PlugInput(
                    inp.server_id,
                    inp.volume_id,
                    plan.device,
                    inp.tag,
                    inp.delete_on_termination,
                ),
                host_queue(plan.host),
            )
            saga.add(
                "unplug_volume",
                lambda: run_activity(
                    AttachActivities.unplug_volume,
                    plug,
                    queue,
                    start_to_close_timeout=UNPLUG_TIMEOUT,
                ),
            )
            await run_activity(AttachActivities.plug_volume, plug, queue)
            await run_activity(VolumeRecords.record_attachment, plug)
            return plan.device
        except _Failure as exc:
            await saga.compensate()
            await run_activity(
                VolumeRecords.set_volume_status, _status(inp.volume_id, "available", reason(exc))
            )
            raise user_error("attach failed", exc) from exc


@workflow.defn
class DetachVolume:
    """Hot-unplug (the guest lets go) -> attachment removed, available; or back in-use."""

    @workflow.run
    async def run(self, inp: VolumeRef) -> None:
        found: Attachment = await run_activity(VolumeRecords.attachment_of, inp)
        try:
            await run_activity(
                AttachActivities.unplug_volume,
                found.plug,
                host_queue(found.host),
                start_to_close_timeout=UNPLUG_TIMEOUT,
            )
        except _Failure as exc:
            await run_activity(
                VolumeRecords.set_volume_status, _status(inp.volume_id, "in-use", reason(exc))
            )
            raise user_error("detach failed", exc) from exc
        await run_activity(VolumeRecords.remove_attachment, inp)


VOLUME_WORKFLOWS = [
    CreateVolume,
    ExtendVolume,
    DeleteVolume,
    CreateSnapshot,
    DeleteSnapshot,
    RevertVolume,
    AttachVolume,
    DetachVolume,
]
