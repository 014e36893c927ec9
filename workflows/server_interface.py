"""Nova's ``os-interface`` attach and detach: one port plugged into a server that exists,
or out of it again.

Attach: the port bound to the server's host -> its network's bridge, DHCP lease, filter
and group members there -> the NIC hot-plugged into the domain (only into its definition
if it is shut off) -> the port ACTIVE; on failure all undone, and the port released
(deleted if it was made for the server, handed back unbound otherwise). Detach: the NIC
unplugged (the guest lets go) -> the port released the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

from workflows.common import STEP_FAILED, run_activity, run_local, user_error
from workflows.netsync import (
    ensure_network_on,
    sync_dhcp,
    sync_groups,
    sync_port,
    sync_router,
    unfilter,
)
from workflows.saga import Saga

with workflow.unsafe.imports_passed_through():
    from activities.compute import NicInput
    from activities.interfaces import (
        InterfaceActivities,
        InterfacePlan,
        InterfaceRecords,
        InterfaceRef,
        PlugNicInput,
        ReleasePlan,
    )
    from activities.server_ports import ServerNic
    from nimbus.config import host_queue

#: The driver waits up to 30 s for the guest to release a NIC; one attempt may take longer.
UNPLUG_TIMEOUT = timedelta(seconds=90)


@dataclass(frozen=True)
class InterfaceInput:
    server_id: str
    port_id: str


def _plug(server_id: str, nic: ServerNic) -> PlugNicInput:
    return PlugNicInput(server_id, NicInput(nic.port_id, nic.mac, nic.network_id, nic.mtu))


async def _unplug(server_id: str, plan: InterfacePlan) -> None:
    await run_activity(
        InterfaceActivities.unplug_interface,
        _plug(server_id, plan.nic),
        host_queue(plan.host),
        start_to_close_timeout=UNPLUG_TIMEOUT,
    )


async def release(ref: InterfaceRef) -> None:
    """Hand the port back: floating IP NAT of a port made here, its filter on the host it
    is bound to, the row (deleted or unbound), then its DHCP lease and group members."""
    plan: ReleasePlan = await run_local(InterfaceRecords.detach_port_floatingips, ref)
    for router_id in plan.ports.routers:
        await sync_router(router_id)
    if plan.host is not None:
        await unfilter(ref.port_id, plan.host)
    await run_local(InterfaceRecords.release_port, ref)
    for network_id in plan.ports.networks:
        await sync_dhcp(network_id)
    await sync_groups(plan.ports.groups)


@workflow.defn
class AttachInterface:
    """Bind -> plumb the host -> hot-plug the NIC -> ACTIVE, or all undone."""

    @workflow.run
    async def run(self, inp: InterfaceInput) -> None:
        ref, saga = InterfaceRef(inp.server_id, inp.port_id), Saga()
        try:
            # Registered before the bind: the API claimed the port before this began.
            saga.add("release_port", lambda: release(ref))
            plan: InterfacePlan = await run_local(InterfaceRecords.bind_port, ref)
            await self._plumb(plan)
            saga.add("unplug_interface", lambda: _unplug(inp.server_id, plan))
            await run_activity(
                InterfaceActivities.plug_interface,
                _plug(inp.server_id, plan.nic),
                host_queue(plan.host),
            )
            await run_local(InterfaceRecords.activate_port, ref)
        except STEP_FAILED as exc:
            await saga.compensate()
            raise user_error("attach interface failed", exc) from exc

    @staticmethod
    async def _plumb(plan: InterfacePlan) -> None:
        """The network's bridge on the host, the DHCP lease, the filter, group members."""
        for network_id in plan.ports.networks:
            await ensure_network_on(network_id, plan.host)
            await sync_dhcp(network_id)
        await sync_port(plan.nic.port_id)
        await sync_groups(plan.ports.groups)


@workflow.defn
class DetachInterface:
    """Hot-unplug the NIC (the guest lets go) -> release the port; a port already
    released is done."""

    @workflow.run
    async def run(self, inp: InterfaceInput) -> None:
        ref = InterfaceRef(inp.server_id, inp.port_id)
        plan: InterfacePlan | None = await run_local(InterfaceRecords.interface_plan, ref)
        if plan is None:
            return
        try:
            await _unplug(inp.server_id, plan)
        except STEP_FAILED as exc:
            raise user_error("detach interface failed", exc) from exc
        await release(ref)


INTERFACE_WORKFLOWS = [AttachInterface, DetachInterface]
