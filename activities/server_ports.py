"""Database activities that bind a server's ports to its host and release them again.

The API creates (``--network``) or claims (``--port``) the server's ports before the boot
starts: ``device_id`` is the server's id, ``device_owner`` ``compute:nova``. Binding
records the host; releasing deletes the ports made for the server and hands the others
back unbound, as Nova does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from temporalio import activity

from activities.compute import ServerRef
from activities.network_records import addresses_of
from nimbus.db import Database
from nimbus.db_network import FloatingIP, Network, Port, delete_port_rows, server_ports


@dataclass(frozen=True)
class BindPortsInput:
    server_id: str
    host: str


@dataclass(frozen=True)
class ServerNic:
    """A bound port as the guest sees it: its NIC and its first address."""

    port_id: str
    network_id: str
    mac: str
    mtu: int
    ip: str | None = None


@dataclass(frozen=True)
class ServerPorts:
    """A server's ports (in NIC order), with the networks and groups they touch."""

    nics: tuple[ServerNic, ...] = ()
    networks: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    #: Routers whose floating IP NAT pointed at a released port.
    routers: tuple[str, ...] = ()


def port_summary(s: Any, ports: list[Port], routers: tuple[str, ...] = ()) -> ServerPorts:
    nics = []
    for port in ports:
        network = s.get(Network, port.network_id)
        addresses = addresses_of(s, port.id)
        ip = addresses[0][0] if addresses else None
        nics.append(ServerNic(port.id, port.network_id, port.mac_address, network.mtu, ip))
    return ServerPorts(
        nics=tuple(nics),
        networks=tuple(sorted({p.network_id for p in ports})),
        groups=tuple(sorted({g for p in ports for g in (p.security_group_ids or [])})),
        routers=routers,
    )


def bind(s: Any, server_id: str, host: str) -> ServerPorts:
    """Record ``host`` on each of the server's ports (status BUILD until it runs)."""
    ports = server_ports(s, server_id)
    for port in ports:
        port.binding_host, port.status = host, "BUILD"
    return port_summary(s, ports)


def activate(s: Any, server_id: str) -> None:
    """The guest runs: the server's ports are ACTIVE."""
    for port in server_ports(s, server_id):
        port.status = "ACTIVE"


class ServerPortRecords:
    """Binding and releasing the ports of one server."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def bind_ports(self, inp: BindPortsInput) -> ServerPorts:
        """Record the server's host on each of its ports (status BUILD until it runs)."""
        with self.db.session() as s:
            return bind(s, inp.server_id, inp.host)

    @activity.defn
    def activate_ports(self, inp: ServerRef) -> None:
        """The guest runs: its ports are ACTIVE."""
        with self.db.session() as s:
            activate(s, inp.server_id)

    @activity.defn
    def detach_floatingips(self, inp: ServerRef) -> ServerPorts:
        """Disassociate the floating IPs of the ports made for the server (they are about
        to be deleted); the routers to resync. Floating IPs of a user's own ports stay."""
        with self.db.session() as s:
            ports = server_ports(s, inp.server_id)
            owned = [p.id for p in ports if p.auto_delete]
            routers = set()
            for fip in s.scalars(select(FloatingIP).where(FloatingIP.port_id.in_(owned))):
                if fip.router_id:
                    routers.add(fip.router_id)
                fip.port_id = fip.fixed_ip_address = fip.router_id = None
                fip.status = "DOWN"
            return port_summary(s, ports, tuple(sorted(routers)))

    @activity.defn
    def release_ports(self, inp: ServerRef) -> ServerPorts:
        """Delete the ports made for the server; unbind the ones the user brought."""
        with self.db.session() as s:
            ports = server_ports(s, inp.server_id)
            summary = port_summary(s, ports)
            for port in ports:
                if port.auto_delete:
                    delete_port_rows(s, port.id)
                else:
                    port.device_id, port.device_owner = "", ""
                    port.binding_host, port.status = None, "DOWN"
            return summary

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.bind_ports,
            self.activate_ports,
            self.detach_floatingips,
            self.release_ports,
        ]
