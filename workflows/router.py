"""Router, floating IP and security group workflows.

A router's namespace is converged to its rows as a whole (interfaces, gateway, SNAT,
floating IPs), so every change is "write the rows, then sync"; a failed change is undone
in the rows and synced again. Ports a change releases are deleted only after the sync
removed their devices.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

from workflows.common import run_activity, run_local, run_net, user_error
from workflows.netsync import sync_groups, sync_port, sync_router
from workflows.network import FAILURES

with workflow.unsafe.imports_passed_through():
    from activities.network_ops import GroupRef, NetworkActivities, NetworkRef, PortRef, RouterRef
    from activities.network_records import (
        FloatingRef,
        GroupPlan,
        HostsResult,
        NetworkRecords,
        PortsInput,
        RoutersResult,
        RuleRef,
        StatusInput,
    )
    from nimbus.config import host_queue


@dataclass(frozen=True)
class RouterInput:
    router_id: str
    #: Ports the change took off the router: deleted once their devices are gone.
    release_ports: tuple[str, ...] = ()
    #: A port the change put on the router, undone if the change fails.
    added_port: str | None = None
    #: Whether ``added_port`` was made for this change (deleted on failure) or claimed.
    added_port_created: bool = False


@dataclass(frozen=True)
class FloatingIPInput:
    fip_id: str
    #: Routers whose NAT the change affects (the old and the new one).
    routers: tuple[str, ...] = ()
    #: A new floating IP: removed again if it cannot be realised.
    created: bool = False


@dataclass(frozen=True)
class SecurityGroupInput:
    group_id: str
    #: A new rule: removed again if the filters cannot take it.
    added_rule: str | None = None
    #: The group's row is gone: forget its member sets.
    deleted: bool = False


async def _mark_router(router_id: str, status: str) -> None:
    await run_local(NetworkRecords.set_router_status, StatusInput(router_id, status))


@workflow.defn
class CreateRouter:
    """Namespace with its gateway -> ACTIVE; or namespace, gateway port and row removed."""

    @workflow.run
    async def run(self, inp: RouterInput) -> None:
        try:
            await sync_router(inp.router_id)
            await _mark_router(inp.router_id, "ACTIVE")
        except FAILURES as exc:
            await _remove_router(inp.router_id)
            raise user_error("router create failed", exc) from exc


@workflow.defn
class UpdateRouter:
    """Converge the router after an interface or gateway change, then delete released
    ports; a failed change gives back (or deletes) the port it added and syncs again."""

    @workflow.run
    async def run(self, inp: RouterInput) -> None:
        try:
            await sync_router(inp.router_id)
        except FAILURES as exc:
            if inp.added_port is not None:
                undo = (
                    NetworkRecords.delete_ports
                    if inp.added_port_created
                    else NetworkRecords.unclaim_port
                )
                arg = (
                    PortsInput((inp.added_port,))
                    if inp.added_port_created
                    else PortRef(inp.added_port)
                )
                await run_activity(undo, arg)
            await sync_router(inp.router_id)
            raise user_error("router update failed", exc) from exc
        if inp.release_ports:
            await run_local(NetworkRecords.delete_ports, PortsInput(inp.release_ports))
        await _mark_router(inp.router_id, "ACTIVE")


@workflow.defn
class DeleteRouter:
    """Namespace removed -> gateway port and row deleted."""

    @workflow.run
    async def run(self, inp: RouterInput) -> None:
        await _remove_router(inp.router_id)


async def _remove_router(router_id: str) -> None:
    ref = RouterRef(router_id)
    hosts: HostsResult = await run_local(NetworkRecords.hosts, NetworkRef(router_id))
    for host in hosts.hosts:
        await run_net(NetworkActivities.delete_router, ref, host_queue(host))
    await run_local(NetworkRecords.delete_router_rows, ref)


@workflow.defn
class SyncFloatingIP:
    """Converge the routers whose NAT changed -> ACTIVE (associated) or DOWN."""

    @workflow.run
    async def run(self, inp: FloatingIPInput) -> None:
        try:
            for router_id in inp.routers:
                await sync_router(router_id)
        except FAILURES as exc:
            if inp.created:
                await run_local(NetworkRecords.release_floatingip, FloatingRef(inp.fip_id))
                await run_local(NetworkRecords.delete_floatingip_rows, FloatingRef(inp.fip_id))
            else:
                await _set_fip(inp.fip_id, "ERROR")
            for router_id in inp.routers:
                await sync_router(router_id)
            raise user_error("floating IP update failed", exc) from exc
        await run_local(NetworkRecords.mark_floatingip, FloatingRef(inp.fip_id))


async def _set_fip(fip_id: str, status: str) -> None:
    await run_local(NetworkRecords.set_floatingip_status, StatusInput(fip_id, status))


@workflow.defn
class DeleteFloatingIP:
    """NAT removed from its router -> floating IP and its external port deleted."""

    @workflow.run
    async def run(self, inp: FloatingIPInput) -> None:
        ref = FloatingRef(inp.fip_id)
        routers: RoutersResult = await run_local(NetworkRecords.release_floatingip, ref)
        for router_id in routers.router_ids:
            await sync_router(router_id)
        await run_local(NetworkRecords.delete_floatingip_rows, ref)


@workflow.defn
class SyncSecurityGroup:
    """Refilter the group's bound ports and set its members; a new rule the filters
    cannot take is removed again."""

    @workflow.run
    async def run(self, inp: SecurityGroupInput) -> None:
        try:
            await _refilter(inp.group_id)
        except FAILURES as exc:
            if inp.added_rule is None:
                raise
            await run_local(NetworkRecords.delete_rule_row, RuleRef(inp.added_rule))
            await _refilter(inp.group_id)
            raise user_error("security group rule failed", exc) from exc
        if inp.deleted:
            plan: GroupPlan = await run_local(NetworkRecords.group_plan, GroupRef(inp.group_id))
            for host in plan.hosts:
                await run_net(
                    NetworkActivities.delete_group, GroupRef(inp.group_id), host_queue(host)
                )
        else:
            await sync_groups((inp.group_id,))


async def _refilter(group_id: str) -> None:
    plan: GroupPlan = await run_local(NetworkRecords.group_plan, GroupRef(group_id))
    for port_id in plan.ports:
        await sync_port(port_id)


ROUTER_WORKFLOWS = [
    CreateRouter,
    UpdateRouter,
    DeleteRouter,
    SyncFloatingIP,
    DeleteFloatingIP,
    SyncSecurityGroup,
]
