"""Networking tables, Neutron's model: networks, subnets, ports and their addresses,
routers, floating IPs, security groups and rules.

The API writes the intent (rows, addresses chosen by IPAM) in one transaction and starts a
workflow that realises it on the hosts; the workflow removes the rows again if it cannot.
Rows are deleted for real (Neutron keeps no soft-deleted networking objects), so a freed
address, MAC or segment can be reused at once; uniqueness is enforced by the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, mapped_column

from nimbus.db import Base, new_id, utcnow

#: Port owners, as Neutron names them.
OWNER_DHCP = "network:dhcp"
OWNER_ROUTER_INTERFACE = "network:router_interface"
OWNER_ROUTER_GATEWAY = "network:router_gateway"
OWNER_FLOATINGIP = "network:floatingip"
OWNER_COMPUTE = "compute:nova"
#: Ports the network service owns itself: never filtered, never a user's to delete.
NETWORK_OWNED = (OWNER_DHCP, OWNER_ROUTER_INTERFACE, OWNER_ROUTER_GATEWAY, OWNER_FLOATINGIP)


class _Stamped:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Network(_Stamped, Base):
    """An L2 network: a bridge and a VXLAN (``segment`` is its VNI) on each host using it.

    ``host`` is the network node that runs its DHCP server. ``status`` is BUILD until its
    workflow realised it, then ACTIVE; DELETING while it is being removed.
    """

    __tablename__ = "networks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="BUILD")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    segment: Mapped[int] = mapped_column(Integer, unique=True)
    mtu: Mapped[int] = mapped_column(Integer, default=1450)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: External networks only: the address the host takes on the bridge, e.g. 172.24.4.1/24.
    host_address: Mapped[str | None] = mapped_column(String(64), nullable=True)


class DhcpGeneration(Base):
    """How many times a network's DHCP server was planned. Each plan takes the next number
    (a write, so plans are ordered as the data they read): a host that applied plan N
    ignores a plan older than N arriving late, which would drop newer leases."""

    __tablename__ = "dhcp_generations"
    network_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class Subnet(_Stamped, Base):
    __tablename__ = "subnets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    allocation_pools: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSON, default=list)
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    #: False until the subnet's workflow has realised it (its DHCP server serves it).
    ready: Mapped[bool] = mapped_column(Boolean, default=False)


class Port(_Stamped, Base):
    """A port: a MAC and addresses on a network, owned by a server, a router or DHCP.

    ``tag`` is a small integer unique among ports, for the host's packet filter.
    ``auto_delete`` marks a port created for a server (``--network``): deleting the
    server deletes it, where a port the user made is only unbound.
    """

    __tablename__ = "ports"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    mac_address: Mapped[str] = mapped_column(String(17), unique=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    security_group_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    binding_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tag: Mapped[int | None] = mapped_column(Integer, unique=True, nullable=True)
    auto_delete: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The server's device tag for this NIC (Nova's 2.32/2.49 ``tag``), set when a server
    #: claims the port; not part of the Neutron view.
    device_tag: Mapped[str | None] = mapped_column(String(60), nullable=True)


class IPAllocation(Base):
    """One fixed IP of a port, in one subnet (a port may hold several of one subnet); an
    address is used once per network."""

    __tablename__ = "ip_allocations"
    port_id: Mapped[str] = mapped_column(
        ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True
    )
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id", ondelete="CASCADE"), index=True)
    network_id: Mapped[str] = mapped_column(String(36), index=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    __table_args__ = (UniqueConstraint("network_id", "ip_address"),)


class Router(_Stamped, Base):
    """A router: a namespace with an interface per attached subnet and, with a gateway,
    a port on an external network (``gw_port_id``) for SNAT and floating IPs."""

    __tablename__ = "routers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="BUILD")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    external_network_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    gw_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)


class FloatingIP(_Stamped, Base):
    """An address on an external network, NATed 1:1 to a port's fixed IP by the router
    that joins the port's subnet to that external network."""

    __tablename__ = "floating_ips"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"))
    floating_port_id: Mapped[str] = mapped_column(String(36))
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    port_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    router_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")


class SecurityGroup(_Stamped, Base):
    __tablename__ = "security_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(255), default="")
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Set on each project's ``default`` group only, so a project has at most one.
    default_for: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)


class SecurityGroupRule(_Stamped, Base):
    __tablename__ = "security_group_rules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("security_groups.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(String(255), default="")
    direction: Mapped[str] = mapped_column(String(8))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(16), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


def lowest_free(s: Session, column: InstrumentedAttribute[Any], hi: int = 65535) -> int | None:
    """The lowest integer in 1..``hi`` that no row holds in ``column`` (None: all taken).

    Read inside the caller's transaction; the column's unique constraint catches a
    concurrent writer that chose the same value."""
    candidate = 1
    for value in s.scalars(select(column).where(column.is_not(None)).order_by(column)):
        if value == candidate:
            candidate += 1
        elif value > candidate:
            break
    return candidate if candidate <= hi else None


def delete_port_rows(s: Session, port_id: str) -> None:
    """Remove a port and its addresses; a missing port is fine."""
    s.execute(delete(IPAllocation).where(IPAllocation.port_id == port_id))
    s.execute(delete(Port).where(Port.id == port_id))


def server_ports(s: Session, server_id: str) -> list[Port]:
    """The ports a server owns, in the order its NICs are plugged."""
    query = (
        select(Port)
        .where(Port.device_id == server_id, Port.device_owner.like("compute:%"))
        .order_by(Port.created_at, Port.id)
    )
    return list(s.scalars(query))


def as_dict(row: Any) -> dict[str, Any]:
    """A row's columns by name (for logs and tests)."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
