"""Service instance workflows: create (its backend made, then AVAILABLE) and delete
(its backend removed, then its row). The API writes the row (CREATING, DELETING) first.

No input, result or failure of these workflows holds a credential: every step takes the
service's id and reads the rest from its row (see ``activities.paas_services``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.common import NON_RETRYABLE, STEP_FAILED, reason, run_activity, user_error
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.paas_services import (
        CreateServiceInput,
        ServiceActivities,
        ServiceFailed,
        ServiceRef,
    )
    from paas.services import OBJECT_STORAGE, POSTGRESQL

#: Waiting on the database server (ACTIVE, then READY) is polling: a step that is not there
#: yet fails with ``BackendUnavailable`` and is tried again soon, for up to ``SERVER_WAIT``.
POLL = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=1.5,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=0,
    non_retryable_error_types=NON_RETRYABLE,
)
#: A first boot under software emulation formats the volume and makes the cluster.
SERVER_WAIT = timedelta(minutes=15)
#: DeleteService waits on its backend with ``POLL`` (was: the house retry policy).
DELETE_POLLS_PATCH = "service-delete-polls"


@workflow.defn
class CreateService:
    """object storage: gateway user with its key pair -> bucket -> AVAILABLE.
    postgresql: volume -> server (booting) -> volume attached once the server is ACTIVE ->
    the server says READY -> AVAILABLE.
    On failure whatever was made is removed and the service is FAILED with the reason."""

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
            elif create.offering == POSTGRESQL:
                saga.add(
                    "remove_backend",
                    lambda: run_activity(
                        ServiceActivities.remove_backend, inp, retry_policy=POLL,
                        schedule_to_close_timeout=SERVER_WAIT,
                    ),
                )  # fmt: skip
                await run_activity(ServiceActivities.create_database_volume, inp, retry_policy=POLL,
                                   schedule_to_close_timeout=SERVER_WAIT)  # fmt: skip
                await run_activity(ServiceActivities.create_database_server, inp)
                for step in (
                    ServiceActivities.attach_database_volume,
                    ServiceActivities.wait_database_ready,
                ):
                    await run_activity(
                        step, inp, retry_policy=POLL, schedule_to_close_timeout=SERVER_WAIT
                    )
            await run_activity(ServiceActivities.mark_available, inp)
        except STEP_FAILED as exc:
            await saga.compensate()
            failed = ServiceFailed(inp.service_id, reason(exc))
            await run_activity(ServiceActivities.mark_failed, failed)
            raise user_error("service create failed", exc) from exc


@workflow.defn
class DeleteService:
    """Backend removed (user, keys, bucket and its objects; or server, then volume) -> row
    removed."""

    @workflow.run
    async def run(self, inp: ServiceRef) -> None:
        if workflow.patched(DELETE_POLLS_PATCH):
            # A database server takes a while to go, and its volume waits for it.
            await run_activity(
                ServiceActivities.remove_backend,
                inp,
                retry_policy=POLL,
                schedule_to_close_timeout=SERVER_WAIT,
            )
        else:
            await run_activity(ServiceActivities.remove_backend, inp)
        await run_activity(ServiceActivities.forget_service, inp)


SERVICE_WORKFLOWS = [CreateService, DeleteService]
