"""Running network workflows from the API: each call runs one workflow to its end.

Neutron answers writes synchronously with the resulting object, so these wait for the
workflow; a failed workflow raises (the API bridge turns it into the matching status).
Create and delete ids derive from the resource, so a retried request joins the run in
flight; changes that may repeat get a fresh id each time.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from nimbus.config import CONTROL_QUEUE
from nimbus.errors import NimbusError
from workflows.common import PROJECT, RESOURCE_ID, RESOURCE_TYPE
from workflows.network import (
    CreateNetwork,
    CreatePort,
    CreateSubnet,
    DeleteNetwork,
    DeletePort,
    DeleteSubnet,
    NetworkInput,
    PortInput,
    SubnetInput,
    SyncNetwork,
    UpdatePort,
)
from workflows.router import (
    CreateRouter,
    DeleteFloatingIP,
    DeleteRouter,
    FloatingIPInput,
    RouterInput,
    SecurityGroupInput,
    SyncFloatingIP,
    SyncSecurityGroup,
    UpdateRouter,
)

#: How long a request waits for its workflow; less than the API bridge's own timeout, so
#: that a slow workflow is reported as still running rather than as an engine failure.
WAIT_SECONDS = 25.0


class StillRunning(NimbusError):
    """The workflow started but has not finished within ``WAIT_SECONDS`` (e.g. its worker
    died and Temporal is about to retry the step elsewhere). It owns the outcome now:
    the caller must not undo anything, and answers with the resource as it stands."""

    http_status = 202


async def _run(
    client: Client,
    run: Any,
    arg: Any,
    kind: str,
    resource_id: str,
    operation: str,
    project_id: str,
    repeatable: bool = False,
) -> None:
    workflow_id = f"{kind}-{resource_id}-{operation}"
    if repeatable:
        workflow_id += f"-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        run,
        arg,
        id=workflow_id,
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(PROJECT, project_id),
                SearchAttributePair(RESOURCE_TYPE, kind),
                SearchAttributePair(RESOURCE_ID, resource_id),
            ]
        ),
    )
    try:
        await asyncio.wait_for(handle.result(), WAIT_SECONDS)
    except TimeoutError as exc:
        raise StillRunning(f"{kind} {resource_id}: {operation} is still in progress") from exc


async def create_network(client: Client, project_id: str, network_id: str) -> None:
    arg = NetworkInput(network_id)
    await _run(client, CreateNetwork.run, arg, "network", network_id, "create", project_id)


async def delete_network(client: Client, project_id: str, network_id: str) -> None:
    arg = NetworkInput(network_id)
    await _run(client, DeleteNetwork.run, arg, "network", network_id, "delete", project_id)


async def sync_network(client: Client, project_id: str, network_id: str) -> None:
    arg = NetworkInput(network_id)
    await _run(client, SyncNetwork.run, arg, "network", network_id, "sync", project_id, True)


async def create_subnet(client: Client, project_id: str, subnet_id: str) -> None:
    arg = SubnetInput(subnet_id)
    await _run(client, CreateSubnet.run, arg, "subnet", subnet_id, "create", project_id)


async def delete_subnet(client: Client, project_id: str, subnet_id: str) -> None:
    arg = SubnetInput(subnet_id)
    await _run(client, DeleteSubnet.run, arg, "subnet", subnet_id, "delete", project_id)


async def create_port(client: Client, project_id: str, port_id: str) -> None:
    arg = PortInput(port_id)
    await _run(client, CreatePort.run, arg, "port", port_id, "create", project_id)


async def update_port(
    client: Client, project_id: str, port_id: str, groups: tuple[str, ...] = ()
) -> None:
    arg = PortInput(port_id, tuple(groups))
    await _run(client, UpdatePort.run, arg, "port", port_id, "update", project_id, True)


async def delete_port(client: Client, project_id: str, port_id: str) -> None:
    arg = PortInput(port_id)
    await _run(client, DeletePort.run, arg, "port", port_id, "delete", project_id)


async def create_router(client: Client, project_id: str, router_id: str) -> None:
    arg = RouterInput(router_id)
    await _run(client, CreateRouter.run, arg, "router", router_id, "create", project_id)


async def update_router(
    client: Client,
    project_id: str,
    router_id: str,
    release_ports: tuple[str, ...] = (),
    added_port: str | None = None,
    added_port_created: bool = False,
) -> None:
    arg = RouterInput(router_id, tuple(release_ports), added_port, added_port_created)
    await _run(client, UpdateRouter.run, arg, "router", router_id, "update", project_id, True)


async def delete_router(client: Client, project_id: str, router_id: str) -> None:
    arg = RouterInput(router_id)
    await _run(client, DeleteRouter.run, arg, "router", router_id, "delete", project_id)


async def sync_floatingip(
    client: Client,
    project_id: str,
    fip_id: str,
    routers: tuple[str, ...] = (),
    created: bool = False,
) -> None:
    arg = FloatingIPInput(fip_id, tuple(r for r in routers if r), created)
    await _run(client, SyncFloatingIP.run, arg, "floatingip", fip_id, "sync", project_id, True)


async def delete_floatingip(client: Client, project_id: str, fip_id: str) -> None:
    arg = FloatingIPInput(fip_id)
    await _run(client, DeleteFloatingIP.run, arg, "floatingip", fip_id, "delete", project_id)


async def sync_security_group(
    client: Client,
    project_id: str,
    group_id: str,
    added_rule: str | None = None,
    deleted: bool = False,
) -> None:
    arg = SecurityGroupInput(group_id, added_rule, deleted)
    run = SyncSecurityGroup.run
    await _run(client, run, arg, "security-group", group_id, "sync", project_id, True)
