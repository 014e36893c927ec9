"""Reconcile a host's network data plane with the database (the worker starts this).

Devices without rows go first (a filter, a router, a DHCP server, then the bridge), then
everything the rows want on the host is converged again: bridges, DHCP servers of the
networks it is the node of, routers, port filters and group member sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

from workflows.common import run_local, run_net
from workflows.netsync import ensure_network_on, sync_dhcp, sync_groups, sync_port, sync_router

with workflow.unsafe.imports_passed_through():
    from activities.network_host import (
        HostNetworkPlan,
        HostNetworkRecords,
        HostNetworkState,
        HostPlanInput,
        HostRef,
        HostState,
    )
    from activities.network_ops import GroupRef, NetworkActivities, NetworkRef, PortRef, RouterRef
    from nimbus.config import host_queue


@dataclass(frozen=True)
class SyncHostInput:
    host: str


@workflow.defn
class SyncHostNetworks:
    """Orphaned devices removed -> every wanted network object converged on the host."""

    @workflow.run
    async def run(self, inp: SyncHostInput) -> HostNetworkPlan:
        queue = host_queue(inp.host)
        have: HostState = await run_net(HostNetworkState.network_state, HostRef(inp.host), queue)
        plan: HostNetworkPlan = await run_local(
            HostNetworkRecords.plan_for_host, HostPlanInput(inp.host, have)
        )
        await _remove_orphans(plan.orphans, queue)
        for network_id in plan.networks:
            await ensure_network_on(network_id, inp.host)
        for network_id in plan.dhcp_networks:
            await sync_dhcp(network_id)
        for router_id in plan.routers:
            await sync_router(router_id)
        for port_id in plan.ports:
            await sync_port(port_id)
        await sync_groups(plan.groups)
        return plan


async def _remove_orphans(orphans: HostState, queue: str) -> None:
    for port_id in orphans.port_filters:
        await run_net(NetworkActivities.remove_port_filter, PortRef(port_id), queue)
    for router_id in orphans.routers:
        await run_net(NetworkActivities.delete_router, RouterRef(router_id), queue)
    for network_id in orphans.dhcp:
        await run_net(NetworkActivities.delete_dhcp, NetworkRef(network_id), queue)
    for group_id in orphans.groups:
        await run_net(NetworkActivities.delete_group, GroupRef(group_id), queue)
    for network_id in orphans.networks:
        await run_net(NetworkActivities.delete_network, NetworkRef(network_id), queue)
