"""Starting server workflows: used by the API and by the worker's reconciler.

Not imported by workflow code. Ids derive from the server id and an existing run is
reused, so a retried request or a reconcile pass finds the operation already running.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from nimbus.config import CONTROL_QUEUE
from workflows.common import PROJECT, RESOURCE_ID, RESOURCE_TYPE, server_workflow_id
from workflows.image import (
    DeleteImage,
    DeleteImageInput,
    ImportImage,
    ImportImageWorkflowInput,
)
from workflows.server import (
    BootServer,
    ConsoleInput,
    DeleteServer,
    GetConsoleOutput,
    PowerInput,
    ServerInput,
    StartServer,
    StopServer,
)


def _attributes(project_id: str, resource_id: str, kind: str = "server") -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(PROJECT, project_id),
            SearchAttributePair(RESOURCE_TYPE, kind),
            SearchAttributePair(RESOURCE_ID, resource_id),
        ]
    )


async def _start(
    client: Client,
    run: Any,
    arg: Any,
    operation: str,
    project_id: str,
    server_id: str,
    reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        run,
        arg,
        id=server_workflow_id(server_id, operation),
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=reuse,
        search_attributes=_attributes(project_id, server_id),
    )


async def start_boot(client: Client, project_id: str, server_id: str) -> WorkflowHandle[Any, Any]:
    """Start (or find) the server's BootServer workflow."""
    return await _start(
        client, BootServer.run, ServerInput(server_id), "boot", project_id, server_id
    )


async def start_delete(client: Client, project_id: str, server_id: str) -> WorkflowHandle[Any, Any]:
    """Cancel a boot in flight, then start (or find) the server's DeleteServer workflow."""
    boot = client.get_workflow_handle(server_workflow_id(server_id, "boot"))
    try:
        await boot.cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    return await _start(
        client, DeleteServer.run, ServerInput(server_id), "delete", project_id, server_id
    )


async def start_power(
    client: Client, project_id: str, server_id: str, host: str, on: bool
) -> WorkflowHandle[Any, Any]:
    """Start a StartServer or StopServer workflow."""
    run = StartServer.run if on else StopServer.run
    operation = "start" if on else "stop"
    arg = PowerInput(server_id, host)
    reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    return await _start(client, run, arg, operation, project_id, server_id, reuse)


async def console_output(
    client: Client, project_id: str, server_id: str, host: str, max_lines: int | None
) -> str:
    """Run GetConsoleOutput to completion and return the text."""
    return await client.execute_workflow(
        GetConsoleOutput.run,
        ConsoleInput(server_id, host, max_lines),
        id=f"{server_workflow_id(server_id, 'console')}",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=_attributes(project_id, server_id),
    )


async def import_image(
    client: Client, project_id: str, image_id: str, staging_path: str, host: str, fmt: str
) -> None:
    """Run (or join) the image's ImportImage workflow to its end."""
    arg = ImportImageWorkflowInput(image_id, staging_path, host, fmt)
    await client.execute_workflow(
        ImportImage.run,
        arg,
        id=f"image-{image_id}-import",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=_attributes(project_id, image_id, "image"),
    )


async def delete_image(client: Client, project_id: str, image_id: str, host: str) -> None:
    """Run (or join) the image's DeleteImage workflow to its end."""
    await client.execute_workflow(
        DeleteImage.run,
        DeleteImageInput(image_id, host),
        id=f"image-{image_id}-delete",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=_attributes(project_id, image_id, "image"),
    )
