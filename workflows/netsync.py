"""Converging steps the network and server workflows share.

Each reads the desired state of one object from the database (a control activity) and
applies it on the host that owns the object's devices (a host activity). Both halves are
idempotent, so a step interrupted by a crash is simply run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from temporalio import workflow

from workflows.common import all_of, run_local, run_net

with workflow.unsafe.imports_passed_through():
    from activities.compute import ServerRef
    from activities.network_ops import (
        GroupRef,
        HostPlug,
        NetworkActivities,
        NetworkRef,
        PortRef,
        RouterRef,
    )
    from activities.network_records import (
        DhcpPlan,
        GroupPlan,
        HostsResult,
        NetworkOnHost,
        NetworkPlan,
        NetworkRecords,
        PortPlan,
        PortsInput,
        RouterPlan,
    )
    from activities.records import PlannedBoot
    from activities.server_ports import BindPortsInput, ServerPortRecords, ServerPorts
    from nimbus.config import host_queue


#: Patch: a DHCP port and a router's ports turn ACTIVE once their devices are plumbed.
PORTS_ACTIVE = "plumbed-ports-active"


async def sync_network(network_id: str) -> NetworkPlan:
    """The network's bridge on its network node, then its DHCP server."""
    plan: NetworkPlan = await run_local(NetworkRecords.network_plan, NetworkRef(network_id))
    await run_net(NetworkActivities.ensure_network, plan.spec, host_queue(plan.host))
    await sync_dhcp(network_id)
    return plan


async def ensure_network_on(network_id: str, host: str) -> None:
    """The network's bridge on ``host`` too (a compute host plugging a guest into it)."""
    plan: NetworkPlan = await run_local(
        NetworkRecords.network_on_host, NetworkOnHost(network_id, host)
    )
    await run_net(NetworkActivities.ensure_network, plan.spec, host_queue(host))


async def sync_dhcp(network_id: str) -> None:
    """Converge the network's DHCP server to its rows: leases, subnets, or none at all."""
    plan: DhcpPlan = await run_local(NetworkRecords.dhcp_plan, NetworkRef(network_id))
    queue = host_queue(plan.host)
    if plan.spec is None:
        await run_net(NetworkActivities.delete_dhcp, NetworkRef(network_id), queue)
    else:
        await run_net(NetworkActivities.ensure_dhcp, plan.spec, queue)
        if workflow.patched(PORTS_ACTIVE):
            await run_local(NetworkRecords.mark_ports_plumbed, PortsInput((plan.spec.port_id,)))


async def remove_network(network_id: str) -> None:
    """Remove the network's DHCP server and bridge from every host."""
    hosts: HostsResult = await run_local(NetworkRecords.hosts, NetworkRef(network_id))
    for host in hosts.hosts:
        queue = host_queue(host)
        await run_net(NetworkActivities.delete_dhcp, NetworkRef(network_id), queue)
        await run_net(NetworkActivities.delete_network, NetworkRef(network_id), queue)


async def sync_port(port_id: str, previous_host: str | None = None) -> PortPlan:
    """Converge the port's filter on its host (and remove it from a host it left)."""
    plan: PortPlan = await run_local(NetworkRecords.port_plan, PortRef(port_id))
    if previous_host and previous_host != plan.host:
        await unfilter(port_id, previous_host)
    await apply_port_plan(plan)
    return plan


async def apply_port_plan(plan: PortPlan) -> None:
    """The port's filter on its host as ``plan`` says (none: removed)."""
    if plan.host is None:
        return
    if plan.filter is None:
        await unfilter(plan.port_id, plan.host)
    else:
        await run_net(NetworkActivities.ensure_port_filter, plan.filter, host_queue(plan.host))


#: Patch: a port's filter is removed again once its row is deleted or unbound. The host's
#: network reconcile may have read the row before the first removal and put the filter
#: back after it; its re-check (``host-sync-rechecks``) keeps the filter of a row still
#: bound to the host, so only a removal after the row's change leaves none behind.
UNFILTER_AFTER_ROWS = "unfilter-after-rows"


async def unfilter(port_id: str, host: str) -> None:
    await run_net(NetworkActivities.remove_port_filter, PortRef(port_id), host_queue(host))


async def sync_groups(group_ids: tuple[str, ...] | list[str]) -> None:
    """Set each security group's member addresses on every host."""
    for group_id in sorted(set(group_ids)):
        plan: GroupPlan = await run_local(NetworkRecords.group_plan, GroupRef(group_id))
        await apply_group_plan(plan)


async def apply_group_plan(plan: GroupPlan, done: str | None = None) -> None:
    """The group's member addresses on every host ``plan`` names (but ``done``)."""
    for host in plan.hosts:
        if host == done:
            continue
        await run_net(NetworkActivities.set_group_members, plan.members, host_queue(host))


async def sync_router(router_id: str) -> RouterPlan:
    """Converge the router's namespace to its rows, with the bridges its ports need."""
    plan: RouterPlan = await run_local(NetworkRecords.router_plan, RouterRef(router_id))
    queue = host_queue(plan.host)
    for network in plan.networks:
        await run_net(NetworkActivities.ensure_network, network, queue)
    await run_net(NetworkActivities.ensure_router, plan.spec, queue)
    if workflow.patched(PORTS_ACTIVE):
        spec = plan.spec
        ports = [i.port_id for i in spec.interfaces] + (
            [spec.gateway.port_id] if spec.gateway else []
        )
        await run_local(NetworkRecords.mark_ports_plumbed, PortsInput(tuple(ports)))
    return plan


async def plug_server(server_id: str, host: str) -> ServerPorts:
    """Bind the server's ports to ``host``: bridges there, DHCP leases, filters, groups."""
    ports: ServerPorts = await run_local(
        ServerPortRecords.bind_ports, BindPortsInput(server_id, host)
    )
    if workflow.patched(PLUG_AT_ONCE):
        await all_of(
            *(_network_for_port(network_id, host) for network_id in ports.networks),
            *(sync_port(nic.port_id) for nic in ports.nics),
            sync_groups(ports.groups),
        )
        return ports
    for network_id in ports.networks:
        await ensure_network_on(network_id, host)
        await sync_dhcp(network_id)
    for nic in ports.nics:
        await sync_port(nic.port_id)
    await sync_groups(ports.groups)
    return ports


#: Patch: a server's networks, port filters and group members are converged at the same
#: time rather than one after another (each step is a round trip through the Temporal
#: server; they touch different devices, and the driver locks what they share).
PLUG_AT_ONCE = "plug-ports-at-once"


#: Patch: a boot launches its domain as soon as its root disk, the bridges of its
#: networks and the filters of its ports are in place, while DHCP leases and group
#: members converge beside (``Plugging``, from the ports' binding on):
#: a guest asks for its address only once it runs, and the server and its ports turn
#: ACTIVE (one step) only after both.
LEASES_BESIDE_LAUNCH = "leases-beside-launch"


class Plugging:
    """A server's bound ports being plugged on ``host`` (``LEASES_BESIDE_LAUNCH``): each
    network's bridge is started at once, and awaited both by what the domain needs
    before it starts (``devices``) and by that network's DHCP leases (``leases``), which
    follow its bridge as in ``plug_server``."""

    def __init__(
        self,
        ports: ServerPorts,
        host: str,
        planned: PlannedBoot | None = None,
        in_one_step: bool = False,
    ) -> None:
        """``planned``: the plans of the bridges, filters and groups, read with the
        placement (``PLANS_WITH_PLACEMENT``); else each is read by a step of its own.
        ``in_one_step`` (with ``planned``, ``PLUG_IN_ONE_STEP``): what the host needs of
        them is one activity (``plug_host``), and only other hosts' parts are steps of
        their own."""
        self.ports, self.host, self.planned = ports, host, planned
        self.one_step: asyncio.Future[Any] | None = None
        if planned is None:
            self.bridges = {
                network_id: asyncio.ensure_future(ensure_network_on(network_id, host))
                for network_id in ports.networks
            }
        elif in_one_step:
            plug = host_plug(planned, host)
            step = (
                asyncio.ensure_future(run_net(NetworkActivities.plug_host, plug, host_queue(host)))
                if plug != HostPlug()
                else None
            )
            self.one_step = step
            self.bridges = {} if step is None else dict.fromkeys(ports.networks, step)
        else:
            self.bridges = {
                network_id: asyncio.ensure_future(
                    run_net(NetworkActivities.ensure_network, plan.spec, host_queue(host))
                )
                for network_id, plan in zip(ports.networks, planned.networks, strict=True)
            }

    async def devices(self) -> None:
        """Each network's bridge on the host and each port's filter."""
        filters: list[Awaitable[Any]]
        if self.planned is None:
            filters = [sync_port(nic.port_id) for nic in self.ports.nics]
        elif self.one_step is not None:
            filters = [self.one_step] + [
                apply_port_plan(plan) for plan in self.planned.ports if plan.host != self.host
            ]
        else:
            filters = [apply_port_plan(plan) for plan in self.planned.ports]
        await all_of(*self.bridges.values(), *filters)

    async def leases(self) -> None:
        """Each network's DHCP leases, once its bridge is there, and the member addresses
        of the server's security groups (in one step, only those on other hosts)."""
        networks: list[str] = list(self.ports.networks)
        plumbed: list[Awaitable[Any]] = []
        if self.one_step is not None and self.planned is not None:
            in_step = {plan.network_id for plan in self.planned.dhcp}
            networks = [network_id for network_id in networks if network_id not in in_step]
            plumbed = [self._plumbed(self.one_step, self.planned.dhcp_down)]
        await all_of(
            *plumbed,
            *(self._leases(network_id) for network_id in networks),
            self._groups(),
        )

    @staticmethod
    async def _plumbed(step: Awaitable[Any], down: tuple[str, ...]) -> None:
        """Once the host's step has plumbed them, DHCP ports not yet ACTIVE turn ACTIVE,
        as in ``sync_dhcp``."""
        await step
        if down:
            await run_local(NetworkRecords.mark_ports_plumbed, PortsInput(down))

    async def _groups(self) -> None:
        if self.planned is None:
            await sync_groups(self.ports.groups)
            return
        done = self.host if self.one_step is not None else None
        for _, plan in self.planned.groups:
            await apply_group_plan(plan, done)

    async def _leases(self, network_id: str) -> None:
        await self.bridges[network_id]
        await sync_dhcp(network_id)


def host_plug(planned: PlannedBoot, host: str) -> HostPlug:
    """What ``host`` needs of a boot's plans (``Plugging``, ``in_one_step``): every
    bridge, the members of each group with a member on it, the filters of the ports
    bound to it, and the DHCP servers on it (``planned.dhcp`` holds only those)."""
    mine = [plan for plan in planned.ports if plan.host == host]
    return HostPlug(
        networks=tuple(plan.spec for plan in planned.networks),
        groups=tuple(plan.members for _, plan in planned.groups if host in plan.hosts),
        filters=tuple(plan.filter for plan in mine if plan.filter is not None),
        unfiltered=tuple(plan.port_id for plan in mine if plan.filter is None),
        dhcp=tuple(plan.spec for plan in planned.dhcp if plan.spec is not None),
    )


#: Patch: what a boot's ports need on its host (bridges, group members, filters, and the
#: DHCP servers there, planned with the placement) is one activity, ``plug_host``, rather
#: than one activity a bridge, a filter, a group and a DHCP server, each with its plan read
#: by a step of its own; and the root disk's clone, the longest step before the launch,
#: is asked for first. Each step is a round trip through the Temporal server, whose work,
#: and the worker's, slowed the clone beside them on a small host (``benchmarks/boot.py``).
PLUG_IN_ONE_STEP = "boot-plugs-host-in-one-step"


async def _network_for_port(network_id: str, host: str) -> None:
    """The network's bridge on ``host``, then its DHCP server's leases."""
    await ensure_network_on(network_id, host)
    await sync_dhcp(network_id)


async def unplug_server(server_id: str, host: str | None) -> None:
    """Release the server's ports: floating IP NAT of its own ports, filters on its host,
    then the rows (deleted or unbound), the filters again (``UNFILTER_AFTER_ROWS``), then
    DHCP leases and group members."""
    ref = ServerRef(server_id)
    ports: ServerPorts = await run_local(ServerPortRecords.detach_floatingips, ref)
    for router_id in ports.routers:
        await sync_router(router_id)
    if host is not None:
        for nic in ports.nics:
            await unfilter(nic.port_id, host)
    await run_local(ServerPortRecords.release_ports, ref)
    if host is not None and workflow.patched(UNFILTER_AFTER_ROWS):
        for nic in ports.nics:
            await unfilter(nic.port_id, host)
    for network_id in ports.networks:
        await sync_dhcp(network_id)
    await sync_groups(ports.groups)
