"""EC2 credential workflows: an S3 key pair on the gateway user of a project, and its
removal. The API writes and removes the credential's row around them."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.common import run_activity, user_error
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.object_store import Ec2CredentialRef, ObjectStoreActivities

_Failure = (ActivityError, asyncio.CancelledError)


@workflow.defn
class CreateEc2Credential:
    """Key pair on the project's gateway user (the user made if missing); on failure
    the key is removed again."""

    @workflow.run
    async def run(self, inp: Ec2CredentialRef) -> None:
        saga = Saga()
        try:
            saga.add(
                "remove_s3_key", lambda: run_activity(ObjectStoreActivities.remove_s3_key, inp)
            )
            await run_activity(ObjectStoreActivities.add_s3_key, inp)
        except _Failure as exc:
            await saga.compensate()
            raise user_error("EC2 credential create failed", exc) from exc


@workflow.defn
class DeleteEc2Credential:
    """Key pair removed from the project's gateway user; S3 refuses it from then on."""

    @workflow.run
    async def run(self, inp: Ec2CredentialRef) -> None:
        try:
            await run_activity(ObjectStoreActivities.remove_s3_key, inp)
        except _Failure as exc:
            raise user_error("EC2 credential delete failed", exc) from exc


EC2_CREDENTIAL_WORKFLOWS = [CreateEc2Credential, DeleteEc2Credential]
