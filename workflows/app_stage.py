"""Staging an app's package into a droplet, and the project's app network.

StageApp: build plan -> buildpack and droplet disk (on the package's host, output in the
app's log) -> droplet registered as an image of the project -> STAGED; on failure the
image is removed and the build is FAILED with the step and the tool's own error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from workflows.common import STEP_FAILED, reason, run_activity, run_local
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.paas_cloud import (
        DeleteImageInput,
        PaasCloudActivities,
        ProjectRef,
        UploadDropletInput,
        UploadDropletResult,
    )
    from activities.paas_records import (
        AppLogInput,
        BuildPlan,
        BuildRef,
        FinishBuildInput,
        PaasRecords,
        SpaceRecord,
    )
    from activities.paas_staging import CleanupInput, StageInput, StageOutput, StagingActivities
    from nimbus.config import host_queue

#: Staging resolves dependencies from the package index: give it time; heartbeats catch a
#: lost worker much sooner.
STAGE_TIMEOUT = timedelta(minutes=20)
HEARTBEAT = timedelta(seconds=30)


@dataclass(frozen=True)
class StageAppInput:
    build_id: str


@dataclass(frozen=True)
class StageAppResult:
    build_id: str
    droplet_image_id: str


def _step_of(exc: BaseException) -> str:
    """The staging step a failure names (the first detail of the activity's error)."""
    cause = getattr(exc, "cause", None)
    details = cause.details if isinstance(cause, ApplicationError) else ()
    return str(details[0]) if details else "stage"


@workflow.defn
class StageApp:
    """Package -> droplet image, or a FAILED build that names its step."""

    @workflow.run
    async def run(self, inp: StageAppInput) -> StageAppResult:
        plan: BuildPlan = await run_local(PaasRecords.build_plan, BuildRef(inp.build_id))
        queue = host_queue(plan.host)
        saga = Saga()
        try:
            staged: StageOutput = await run_activity(
                StagingActivities.stage,
                StageInput(
                    plan.build_id, plan.app_id, plan.package_sha256, plan.command, plan.buildpack
                ),
                queue,
                start_to_close_timeout=STAGE_TIMEOUT,
                heartbeat_timeout=HEARTBEAT,
            )
            image = await self._upload(plan, staged, queue, saga)
        except STEP_FAILED as exc:
            await saga.compensate()
            await run_activity(StagingActivities.cleanup, CleanupInput(plan.build_id), queue)
            await self._fail(plan, exc)
            raise ApplicationError(
                f"staging failed: {reason(exc)}", type="InvalidSpec", non_retryable=True
            ) from exc
        await run_activity(StagingActivities.cleanup, CleanupInput(plan.build_id), queue)
        await run_local(
            PaasRecords.finish_build,
            FinishBuildInput(
                plan.build_id,
                "STAGED",
                staged.buildpack,
                staged.runtime,
                staged.command,
                image.image_id,
                staged.size,
            ),
        )
        return StageAppResult(plan.build_id, image.image_id)

    async def _upload(
        self, plan: BuildPlan, staged: StageOutput, queue: str, saga: Saga
    ) -> UploadDropletResult:
        image: UploadDropletResult = await run_activity(
            PaasCloudActivities.upload_droplet,
            UploadDropletInput(plan.project_id, plan.build_id, staged.droplet_path),
            queue,
            start_to_close_timeout=STAGE_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
        )
        saga.add(
            "delete_droplet_image",
            lambda: run_activity(
                PaasCloudActivities.delete_image, DeleteImageInput(plan.project_id, image.image_id)
            ),
        )
        return image

    async def _fail(self, plan: BuildPlan, exc: BaseException) -> None:
        step, message = _step_of(exc), reason(exc)
        await run_local(
            PaasRecords.log, AppLogInput(plan.app_id, "STG", [f"Staging failed: {message}"])
        )
        await run_local(
            PaasRecords.finish_build,
            FinishBuildInput(plan.build_id, "FAILED", error=message, error_step=step),
        )


@workflow.defn
class EnsureSpace:
    """The project's app network, subnet and security group; one run per project at a time
    (its id is ``paas-space-<project>``), so two apps never make two networks."""

    @workflow.run
    async def run(self, inp: ProjectRef) -> SpaceRecord:
        result: SpaceRecord = await run_activity(
            PaasCloudActivities.ensure_space, inp, start_to_close_timeout=timedelta(minutes=2)
        )
        return result


async def ensure_space(project_id: str) -> SpaceRecord:
    """Run EnsureSpace as a child; if another workflow runs it for this project, wait for
    that run to end and run it again (it then finds everything already there)."""
    while True:
        try:
            space: SpaceRecord = await workflow.execute_child_workflow(
                EnsureSpace.run,
                ProjectRef(project_id),
                id=f"paas-space-{project_id}",
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
            return space
        except WorkflowAlreadyStartedError:
            await asyncio.sleep(1)
