"""Starting service instance workflows from the API. Ids derive from the service and the
operation, and a run in flight is joined, so a retried request finds it."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from activities.paas_services import CreateServiceInput, ServiceRef
from nimbus.config import CONTROL_QUEUE
from workflows.common import PROJECT, RESOURCE_ID, RESOURCE_TYPE
from workflows.paas_service import CreateService, DeleteService

KIND = "service"


def workflow_id(service_id: str, operation: str) -> str:
    """``service-<id>-<operation>``."""
    return f"{KIND}-{service_id}-{operation}"


def _attributes(project_id: str, service_id: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(PROJECT, project_id),
            SearchAttributePair(RESOURCE_TYPE, KIND),
            SearchAttributePair(RESOURCE_ID, service_id),
        ]
    )


async def start_create(client: Client, project_id: str, service_id: str, offering: str) -> None:
    arg = CreateServiceInput(service_id, offering)
    await _start(client, CreateService.run, arg, project_id, service_id, "create")


async def start_delete(client: Client, project_id: str, service_id: str) -> None:
    await _start(
        client, DeleteService.run, ServiceRef(service_id), project_id, service_id, "delete"
    )


async def _start(
    client: Client, run: Any, arg: Any, project_id: str, service_id: str, operation: str
) -> None:
    """Start the operation's workflow, or join the run of it in flight."""
    await client.start_workflow(
        run,
        arg,
        id=workflow_id(service_id, operation),
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        search_attributes=_attributes(project_id, service_id),
    )
