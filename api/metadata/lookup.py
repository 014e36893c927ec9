"""Which server is asking: the network the request came in on and its source address,
as the network's metadata proxy vouches for them, name at most one port and its server."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from nimbus.db import Server
from nimbus.db_compute import server_flavor
from nimbus.db_network import FloatingIP, IPAllocation, Network, Port, SecurityGroup


@dataclass(frozen=True)
class Asker:
    """A server asking about itself, and the NIC it asked through."""

    server: Server
    port: Port
    fixed_ip: str


def find_asker(s: Session, network_id: str, address: str) -> Asker | None:
    """The live server whose port on ``network_id`` holds ``address``; ``None`` for an
    address no server's port holds (a router, the DHCP port, a stranger)."""
    port = s.scalars(
        select(Port)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(IPAllocation.network_id == network_id, IPAllocation.ip_address == address)
    ).first()
    if port is None or not port.device_owner.startswith("compute:") or not port.device_id:
        return None
    server = s.get(Server, port.device_id)
    if server is None or server.deleted_at is not None:
        return None
    return Asker(server, port, address)


def server_ports(s: Session, server_id: str) -> list[tuple[Port, int]]:
    """The server's ports in the order they were made, each with its network's MTU."""
    rows = s.execute(
        select(Port, Network.mtu)
        .join(Network, Network.id == Port.network_id)
        .where(Port.device_id == server_id, Port.device_owner.startswith("compute:"))
        .order_by(Port.created_at, Port.id)
    ).all()
    return [(port, int(mtu)) for port, mtu in rows]


def floating_ip(s: Session, port_id: str, fixed_ip: str) -> str:
    """The floating IP that maps to ``fixed_ip`` on the port, or ``""``."""
    found = s.scalar(
        select(FloatingIP.floating_ip_address).where(
            FloatingIP.port_id == port_id, FloatingIP.fixed_ip_address == fixed_ip
        )
    )
    return found or ""


def group_names(s: Session, port: Port) -> list[str]:
    ids = list(port.security_group_ids or [])
    if not ids:
        return []
    names = s.scalars(select(SecurityGroup.name).where(SecurityGroup.id.in_(ids))).all()
    return sorted(names)


def flavor_name(s: Session, server: Server) -> str:
    """The name of the server's flavor (of its own copy once the flavor was deleted)."""
    flavor = server_flavor(s, server.id, server.flavor_id)
    return flavor.name if flavor is not None else ""
