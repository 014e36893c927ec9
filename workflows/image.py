"""Image workflows: import a staged upload, delete an image."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.common import PATIENT, run_activity, user_error
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.image_records import ImageRecords, MarkImageActiveInput
    from activities.images import (
        ImageActivities,
        ImageRef,
        ImportImageInput,
        ImportImageResult,
        ServerImageInput,
        StagingRef,
    )
    from nimbus.config import host_queue

#: Copying a large image into the store may take long, so one attempt's budget is generous.
IMPORT_TIMEOUT = timedelta(hours=2)
#: The import heartbeats every 2 s: an attempt lost with its worker is retried after this.
IMPORT_HEARTBEAT = timedelta(seconds=20)


@dataclass(frozen=True)
class ImportImageWorkflowInput:
    image_id: str
    staging_path: str
    staging_host: str
    disk_format: str


@workflow.defn
class ImportImage:
    """Staged file -> image data (raw) -> protected snapshot -> active; or back to queued."""

    @workflow.run
    async def run(self, inp: ImportImageWorkflowInput) -> None:
        ref, queue = ImageRef(inp.image_id), host_queue(inp.staging_host)
        saga = Saga()
        try:
            saga.add(
                "delete_image_data",
                lambda: run_activity(
                    ImageActivities.delete_image_data, ref, queue, retry_policy=PATIENT
                ),
            )
            staged = ImportImageInput(inp.image_id, inp.staging_path, inp.disk_format)
            result: ImportImageResult = await run_activity(
                ImageActivities.import_image,
                staged,
                queue,
                start_to_close_timeout=IMPORT_TIMEOUT,
                heartbeat_timeout=IMPORT_HEARTBEAT,
            )
            await run_activity(ImageActivities.protect_image, ref, queue)
            active = MarkImageActiveInput(
                inp.image_id, result.virtual_size, result.md5, result.sha256
            )
            await run_activity(ImageRecords.mark_image_active, active)
        except (ActivityError, asyncio.CancelledError) as exc:
            await saga.compensate()
            await run_activity(ImageRecords.mark_image_queued, ref)
            raise user_error("image import failed", exc) from exc
        finally:
            await run_activity(ImageActivities.remove_staging, StagingRef(inp.staging_path), queue)


@dataclass(frozen=True)
class DeleteImageInput:
    image_id: str
    host: str


@workflow.defn
class DeleteImage:
    """Refuse while in use -> remove the data (refused by the store while clones exist)
    -> row deleted."""

    @workflow.run
    async def run(self, inp: DeleteImageInput) -> None:
        ref = ImageRef(inp.image_id)
        try:
            await run_activity(ImageRecords.check_image_unused, ref)
            await run_activity(ImageActivities.delete_image_data, ref, host_queue(inp.host))
        except ActivityError as exc:
            raise user_error("image delete refused", exc) from exc
        await run_activity(ImageRecords.mark_image_deleted, ref)


@dataclass(frozen=True)
class CreateServerImageInput:
    server_id: str
    image_id: str
    host: str


@workflow.defn
class CreateServerImage:
    """Snapshot the server's disk -> clone it into the image -> flatten -> protect ->
    active; the temporary disk snapshot is always removed; on failure the image is
    deleted data and all, and its row too."""

    @workflow.run
    async def run(self, inp: CreateServerImageInput) -> None:
        ref, queue = ImageRef(inp.image_id), host_queue(inp.host)
        snap = ServerImageInput(inp.server_id, inp.image_id)
        saga = Saga()
        try:
            saga.add(
                "drop_server_disk_snapshot",
                lambda: run_activity(ImageActivities.drop_server_disk_snapshot, snap, queue),
            )
            await run_activity(ImageActivities.snapshot_server_disk, snap, queue)
            saga.add(
                "delete_image_data",
                lambda: run_activity(
                    ImageActivities.delete_image_data, ref, queue, retry_policy=PATIENT
                ),
            )
            result: ImportImageResult = await run_activity(
                ImageActivities.copy_into_image,
                snap,
                queue,
                start_to_close_timeout=IMPORT_TIMEOUT,
                heartbeat_timeout=IMPORT_HEARTBEAT,
            )
            await run_activity(ImageActivities.drop_server_disk_snapshot, snap, queue)
            await run_activity(ImageActivities.protect_image, ref, queue)
            active = MarkImageActiveInput(
                inp.image_id, result.virtual_size, result.md5, result.sha256
            )
            await run_activity(ImageRecords.mark_image_active, active)
        except (ActivityError, asyncio.CancelledError) as exc:
            await saga.compensate()
            await run_activity(ImageRecords.mark_image_deleted, ref)
            raise user_error("server image failed", exc) from exc
