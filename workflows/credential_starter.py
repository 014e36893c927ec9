"""Running EC2 credential workflows from the API, each to its end.

Keystone answers a credential create with the secret, so the key must work on the
gateway before the API answers. Ids derive from the access key: a retried request joins
the run in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from activities.object_store import Ec2CredentialRef
from nimbus.config import CONTROL_QUEUE
from workflows.common import PROJECT, RESOURCE_ID, RESOURCE_TYPE
from workflows.ec2_credential import CreateEc2Credential, DeleteEc2Credential
from workflows.net_starter import WAIT_SECONDS, StillRunning

KIND = "ec2-credential"


def workflow_id(access: str, operation: str) -> str:
    """``ec2-credential-<access>-<operation>``."""
    return f"{KIND}-{access}-{operation}"


async def create_ec2_credential(client: Client, project_id: str, access: str) -> None:
    arg = Ec2CredentialRef(access, project_id)
    await _run(client, CreateEc2Credential.run, arg, "create")


async def delete_ec2_credential(client: Client, project_id: str, access: str) -> None:
    arg = Ec2CredentialRef(access, project_id)
    await _run(client, DeleteEc2Credential.run, arg, "delete")


async def _run(client: Client, run: Any, arg: Ec2CredentialRef, operation: str) -> None:
    """Start (or join) the workflow and wait for it; ``StillRunning`` if it takes long."""
    attributes = [
        SearchAttributePair(PROJECT, arg.project_id),
        SearchAttributePair(RESOURCE_TYPE, KIND),
        SearchAttributePair(RESOURCE_ID, arg.access),
    ]
    handle = await client.start_workflow(
        run,
        arg,
        id=workflow_id(arg.access, operation),
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        search_attributes=TypedSearchAttributes(attributes),
    )
    try:
        await asyncio.wait_for(handle.result(), WAIT_SECONDS)
    except TimeoutError as exc:
        raise StillRunning(f"EC2 credential {arg.access}: {operation} in progress") from exc
