"""DeleteApp: retire the supervisor (instances stopped, route removed), sweep what is
left (servers, the route, droplet images), then the app's rows. Each step tolerates what
is already gone, so the workflow can be run again until it ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

from workflows.common import run_activity, run_local

with workflow.unsafe.imports_passed_through():
    from activities.paas_cloud import DeleteImageInput, DeleteServerInput, PaasCloudActivities
    from activities.paas_records import AppRef, Leftovers, PaasRecords
    from activities.paas_router import ROUTER_QUEUE, RouterActivities, RouterAppRef
    from activities.paas_temporal import PaasTemporalOps


@dataclass(frozen=True)
class DeleteAppInput:
    app_id: str


@workflow.defn
class DeleteApp:
    @workflow.run
    async def run(self, inp: DeleteAppInput) -> None:
        ref = AppRef(inp.app_id)
        await run_activity(
            PaasTemporalOps.retire_supervisor,
            ref,
            start_to_close_timeout=timedelta(minutes=10),
        )
        left: Leftovers = await run_local(PaasRecords.leftovers, ref)
        for server_id in left.server_ids:
            await run_activity(
                PaasCloudActivities.delete_server, DeleteServerInput(left.project_id, server_id)
            )
        await run_activity(RouterActivities.remove_route, RouterAppRef(inp.app_id), ROUTER_QUEUE)
        for image_id in left.image_ids:
            # Retried while the deleted servers' clones still hold the image.
            await run_activity(
                PaasCloudActivities.delete_image,
                DeleteImageInput(left.project_id, image_id),
                start_to_close_timeout=timedelta(minutes=5),
            )
        await run_local(PaasRecords.forget_app, ref)
