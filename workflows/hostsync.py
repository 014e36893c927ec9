"""Reconcile a host's network data plane with the database (the worker starts this).

Devices without rows go first (a filter, a router, a DHCP server, then the bridge), then
everything the rows want on the host is converged again: bridges, DHCP servers of the
networks it is the node of, routers, port filters and group member sets.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

from workflows.common import STEP_FAILED, failed_with, run_local, run_net
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
        if workflow.patched(RECHECK):
            await _converge(plan, inp.host)
            return plan
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


#: Patch: each object converged on the host is checked against its row again afterwards,
#: and its devices are removed if it was deleted meanwhile (the convergence read its row
#: before its delete, and rebuilt it after the delete removed its devices); an object
#: whose row went before its own step is skipped rather than failing the whole pass.
RECHECK = "host-sync-rechecks"


async def _converge(plan: HostNetworkPlan, host: str) -> None:
    for network_id in plan.networks:
        await _unless_gone(ensure_network_on(network_id, host))
    for network_id in plan.dhcp_networks:
        await _unless_gone(sync_dhcp(network_id))
    for router_id in plan.routers:
        await _unless_gone(sync_router(router_id))
    for port_id in plan.ports:
        await _unless_gone(sync_port(port_id))
    await sync_groups(plan.groups)
    converged = HostState(
        networks=plan.networks,
        dhcp=plan.dhcp_networks,
        routers=plan.routers,
        port_filters=plan.ports,
        groups=plan.groups,
    )
    gone: HostState = await run_local(
        HostNetworkRecords.gone_from_host, HostPlanInput(host, converged)
    )
    await _remove_orphans(gone, host_queue(host))


async def _unless_gone(step: Awaitable[Any]) -> None:
    """Run one object's convergence; its row having gone meanwhile is no failure."""
    try:
        await step
    except STEP_FAILED as exc:
        if not failed_with(exc, "NotFound"):
            raise


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
