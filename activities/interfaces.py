"""Nova's ``os-interface`` on a server that exists: one port plugged in or out.

The API claims (``port_id``) or makes (``net_id``) the port for the server before the
workflow starts, as it does at boot: ``device_id`` is the server, ``device_owner``
``compute:nova``, ``auto_delete`` marks a port made here. The database activities bind the
port to the server's host and release it again (deleted if made for the server, handed
back unbound otherwise); the host activities plug its NIC into the domain and out again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from temporalio import activity

from activities.compute import NicInput
from activities.hypervisor.base import HypervisorDriver
from activities.server_ports import ServerNic, ServerPorts, port_summary
from nimbus.db import Database, Server
from nimbus.db_network import FloatingIP, Port, delete_port_rows
from nimbus.errors import Conflict, NotFound


@dataclass(frozen=True)
class InterfaceRef:
    server_id: str
    port_id: str


@dataclass(frozen=True)
class InterfacePlan:
    """Where the server runs and what the port is, as its NIC and its network touches."""

    host: str
    nic: ServerNic
    ports: ServerPorts


@dataclass(frozen=True)
class ReleasePlan:
    """What releasing a port touches: the host its filter is on, its network and groups,
    and the routers whose floating IP NAT pointed at it."""

    host: str | None = None
    ports: ServerPorts = ServerPorts()


@dataclass(frozen=True)
class PlugNicInput:
    server_id: str
    nic: NicInput


def _port(s: Any, inp: InterfaceRef) -> Port | None:
    """The port if it is (still) the server's."""
    port = s.get(Port, inp.port_id)
    return port if port is not None and port.device_id == inp.server_id else None


class InterfaceRecords:
    """Binding, activating and releasing one port of a server."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def bind_port(self, inp: InterfaceRef) -> InterfacePlan:
        """Record the server's host on the port (status BUILD until plugged in); the plan
        of the NIC. ``NotFound`` if the port is no longer the server's."""
        with self.db.session() as s:
            server, port = s.get(Server, inp.server_id), _port(s, inp)
            if server is None or port is None:
                raise NotFound(f"port {inp.port_id} is not claimed by server {inp.server_id}")
            if server.host is None:
                raise Conflict(f"server {inp.server_id} is on no host")
            if port.status != "ACTIVE":
                port.binding_host, port.status = server.host, "BUILD"
            ports = port_summary(s, [port])
            return InterfacePlan(server.host, ports.nics[0], ports)

    @activity.defn
    def interface_plan(self, inp: InterfaceRef) -> InterfacePlan | None:
        """The plan of a port plugged into the server; ``None`` if it is no longer the
        server's (an earlier run released it)."""
        with self.db.session() as s:
            server, port = s.get(Server, inp.server_id), _port(s, inp)
            if server is None or port is None or server.host is None:
                return None
            ports = port_summary(s, [port])
            return InterfacePlan(server.host, ports.nics[0], ports)

    @activity.defn
    def activate_port(self, inp: InterfaceRef) -> None:
        """The NIC is plugged in: the port is ACTIVE."""
        with self.db.session() as s:
            port = _port(s, inp)
            if port is not None:
                port.status = "ACTIVE"

    @activity.defn
    def detach_port_floatingips(self, inp: InterfaceRef) -> ReleasePlan:
        """Disassociate the floating IPs of a port made for the server (it is about to be
        deleted); what the release then touches. A user's own port keeps its floating
        IPs."""
        with self.db.session() as s:
            port = _port(s, inp)
            if port is None:
                return ReleasePlan()
            routers = set()
            if port.auto_delete:
                for fip in s.scalars(select(FloatingIP).where(FloatingIP.port_id == port.id)):
                    if fip.router_id:
                        routers.add(fip.router_id)
                    fip.port_id = fip.fixed_ip_address = fip.router_id = None
                    fip.status = "DOWN"
            summary = port_summary(s, [port], tuple(sorted(routers)))
            return ReleasePlan(port.binding_host, summary)

    @activity.defn
    def release_port(self, inp: InterfaceRef) -> None:
        """Delete the port if it was made for the server, else hand it back unbound; a
        port already released (or claimed since by another server) is left alone."""
        with self.db.session() as s:
            port = _port(s, inp)
            if port is None:
                return
            if port.auto_delete:
                delete_port_rows(s, port.id)
            else:
                port.device_id, port.device_owner = "", ""
                port.binding_host, port.status = None, "DOWN"

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.bind_port,
            self.interface_plan,
            self.activate_port,
            self.detach_port_floatingips,
            self.release_port,
        ]


class InterfaceActivities:
    """Hot-plug of NICs into the domains of one host."""

    def __init__(self, hypervisor: HypervisorDriver, instance_prefix: str) -> None:
        self.hypervisor = hypervisor
        self.prefix = instance_prefix

    @activity.defn
    def plug_interface(self, inp: PlugNicInput) -> None:
        """Plug the port's NIC into the domain (live if it runs, and in its definition);
        already plugged is success."""
        self.hypervisor.attach_interface(self.prefix + inp.server_id, inp.nic.nic())

    @activity.defn
    def unplug_interface(self, inp: PlugNicInput) -> None:
        """Unplug it and wait until the guest let it go; already gone (or no domain left)
        is success."""
        try:
            self.hypervisor.detach_interface(self.prefix + inp.server_id, inp.nic.mac)
        except NotFound:
            return

    def all(self) -> list[Callable[..., Any]]:
        return [self.plug_interface, self.unplug_interface]
