"""Service instance workflows: create (its backend made, then AVAILABLE) and delete
(its backend removed, then its row). The API writes the row (CREATING, DELETING) first.

No input, result or failure of these workflows holds a credential: every step takes the
service's id and reads the rest from its row (see ``activities.paas_services``).
"""

from __future__ import annotations

from temporalio import workflow

from workflows.common import STEP_FAILED, reason, run_activity, user_error
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.paas_services import (
        CreateServiceInput,
        ServiceActivities,
        ServiceFailed,
        ServiceRef,
    )
    from paas.services import OBJECT_STORAGE


@workflow.defn
class CreateService:
    """object storage: gateway user with its key pair -> bucket -> AVAILABLE. On failure
    whatever was made is removed and the service is FAILED with the reason."""

    @workflow.run
    async def run(self, create: CreateServiceInput) -> None:
        saga, inp = Saga(), ServiceRef(create.service_id)
        try:
            if create.offering == OBJECT_STORAGE:
                saga.add(
                    "remove_backend", lambda: run_activity(ServiceActivities.remove_backend, inp)
                )
                await run_activity(ServiceActivities.create_bucket_user, inp)
                await run_activity(ServiceActivities.create_bucket, inp)
            await run_activity(ServiceActivities.mark_available, inp)
        except STEP_FAILED as exc:
            await saga.compensate()
            failed = ServiceFailed(inp.service_id, reason(exc))
            await run_activity(ServiceActivities.mark_failed, failed)
            raise user_error("service create failed", exc) from exc


@workflow.defn
class DeleteService:
    """Backend removed (user, keys, bucket and its objects) -> row removed."""

    @workflow.run
    async def run(self, inp: ServiceRef) -> None:
        await run_activity(ServiceActivities.remove_backend, inp)
        await run_activity(ServiceActivities.forget_service, inp)


SERVICE_WORKFLOWS = [CreateService, DeleteService]
