"""Network workflows: networks, subnets and ports.

The API has written the intent (rows, addresses) before a workflow starts. A creating
workflow realises it and marks it ACTIVE, or removes its devices and then its rows, so a
failure leaves neither a device without a row nor a row without its devices. A deleting
workflow removes devices first and rows last, so a crash in between is finished by the
resumed workflow.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

from workflows.common import STEP_FAILED, run_local, run_net, user_error
from workflows.netsync import (
    UNFILTER_AFTER_ROWS,
    remove_network,
    sync_dhcp,
    sync_groups,
    sync_network,
    sync_port,
    sync_router,
    unfilter,
)

with workflow.unsafe.imports_passed_through():
    from activities.network_ops import NetworkActivities, NetworkRef, PortRef
    from activities.network_records import (
        NetworkPlan,
        NetworkRecords,
        PortPlan,
        PortsInput,
        RoutersResult,
        StatusInput,
        SubnetRef,
    )
    from nimbus.config import host_queue

FAILURES = STEP_FAILED


@dataclass(frozen=True)
class NetworkInput:
    network_id: str


@dataclass(frozen=True)
class SubnetInput:
    subnet_id: str


async def _network_of(subnet_id: str) -> str:
    ref: NetworkRef = await run_local(NetworkRecords.subnet_network, SubnetRef(subnet_id))
    return ref.network_id


@dataclass(frozen=True)
class PortInput:
    port_id: str
    #: The port's security groups before an update: their member sets change too.
    groups: tuple[str, ...] = ()


@workflow.defn
class CreateNetwork:
    """Bridge (and VXLAN) on the network node -> ACTIVE; or bridge and row removed."""

    @workflow.run
    async def run(self, inp: NetworkInput) -> None:
        ref = NetworkRef(inp.network_id)
        try:
            plan: NetworkPlan = await run_local(NetworkRecords.network_plan, ref)
            await run_net(NetworkActivities.ensure_network, plan.spec, host_queue(plan.host))
            await run_local(
                NetworkRecords.set_network_status, StatusInput(inp.network_id, "ACTIVE")
            )
        except FAILURES as exc:
            await remove_network(inp.network_id)
            await run_local(NetworkRecords.delete_network_rows, ref)
            raise user_error("network create failed", exc) from exc


@workflow.defn
class DeleteNetwork:
    """DHCP server and bridges removed from every host -> rows deleted."""

    @workflow.run
    async def run(self, inp: NetworkInput) -> None:
        await remove_network(inp.network_id)
        await run_local(NetworkRecords.delete_network_rows, NetworkRef(inp.network_id))


@workflow.defn
class CreateSubnet:
    """Bridge and DHCP server serve the new subnet -> ready; or the subnet is removed."""

    @workflow.run
    async def run(self, inp: SubnetInput) -> None:
        network_id = await _network_of(inp.subnet_id)
        try:
            await sync_network(network_id)
            await run_local(NetworkRecords.mark_subnet_ready, SubnetRef(inp.subnet_id))
        except FAILURES as exc:
            await run_local(NetworkRecords.delete_subnet_rows, SubnetRef(inp.subnet_id))
            await sync_network(network_id)
            raise user_error("subnet create failed", exc) from exc


@workflow.defn
class DeleteSubnet:
    """Rows deleted -> DHCP server converged without the subnet (or stopped)."""

    @workflow.run
    async def run(self, inp: SubnetInput) -> None:
        network_id = await _network_of(inp.subnet_id)
        await run_local(NetworkRecords.delete_subnet_rows, SubnetRef(inp.subnet_id))
        await sync_network(network_id)


@workflow.defn
class SyncNetwork:
    """Converge a network's bridge and DHCP server to its rows (after an update)."""

    @workflow.run
    async def run(self, inp: NetworkInput) -> None:
        await sync_network(inp.network_id)


@workflow.defn
class CreatePort:
    """DHCP lease and group members for the new port; or the port is removed."""

    @workflow.run
    async def run(self, inp: PortInput) -> None:
        ref = PortRef(inp.port_id)
        plan: PortPlan = await run_local(NetworkRecords.port_plan, ref)
        try:
            await sync_dhcp(plan.network_id)
            await sync_port(inp.port_id)
            await sync_groups(plan.groups)
        except FAILURES as exc:
            if plan.host:
                await unfilter(inp.port_id, plan.host)
            await run_local(NetworkRecords.delete_ports, PortsInput((inp.port_id,)))
            await sync_dhcp(plan.network_id)
            await sync_groups(plan.groups)
            raise user_error("port create failed", exc) from exc


@workflow.defn
class UpdatePort:
    """Converge the port's filter, DHCP lease and its old and new groups' members."""

    @workflow.run
    async def run(self, inp: PortInput) -> None:
        plan = await sync_port(inp.port_id)
        await sync_dhcp(plan.network_id)
        await sync_groups((*plan.groups, *inp.groups))


@workflow.defn
class DeletePort:
    """Floating IPs released -> filter removed -> row deleted -> filter removed again
    (``UNFILTER_AFTER_ROWS``) -> DHCP and groups resynced."""

    @workflow.run
    async def run(self, inp: PortInput) -> None:
        ref = PortRef(inp.port_id)
        plan: PortPlan = await run_local(NetworkRecords.port_plan, ref)
        await release_port(plan)
        await run_local(NetworkRecords.delete_ports, PortsInput((inp.port_id,)))
        if plan.host and workflow.patched(UNFILTER_AFTER_ROWS):
            await unfilter(plan.port_id, plan.host)
        await sync_dhcp(plan.network_id)
        await sync_groups(plan.groups)


async def release_port(plan: PortPlan) -> None:
    """Undo what binds a port to its host: its floating IPs' NAT and its filter."""
    routers: RoutersResult = await run_local(
        NetworkRecords.disassociate_floatingips, PortRef(plan.port_id)
    )
    for router_id in routers.router_ids:
        await sync_router(router_id)
    if plan.host:
        await unfilter(plan.port_id, plan.host)


NETWORK_WORKFLOWS = [
    CreateNetwork,
    DeleteNetwork,
    CreateSubnet,
    DeleteSubnet,
    SyncNetwork,
    CreatePort,
    UpdatePort,
    DeletePort,
]
