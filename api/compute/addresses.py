"""A server's ``addresses`` and ``security_groups``, read from its ports, as Nova shows them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from api import deps
from nimbus.db_network import FloatingIP, IPAllocation, Network, SecurityGroup, server_ports


def server_addresses(server_id: str) -> dict[str, list[dict[str, Any]]]:
    """``{network name: [{version, addr, OS-EXT-IPS:type, OS-EXT-IPS-MAC:mac_addr}]}``,
    fixed addresses first, then the floating IPs NATed to them."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with deps.db().session() as s:
        for port in server_ports(s, server_id):
            network = s.get(Network, port.network_id)
            label = (network.name or network.id) if network is not None else port.network_id
            fixed = s.scalars(
                select(IPAllocation.ip_address)
                .where(IPAllocation.port_id == port.id)
                .order_by(IPAllocation.ip_address)
            ).all()
            floating = s.scalars(
                select(FloatingIP.floating_ip_address)
                .where(FloatingIP.port_id == port.id)
                .order_by(FloatingIP.floating_ip_address)
            ).all()
            for kind, addresses in (("fixed", fixed), ("floating", floating)):
                for addr in addresses:
                    found[label].append(_address(addr, kind, port.mac_address))
    return dict(found)


def _address(addr: str, kind: str, mac: str) -> dict[str, Any]:
    return {
        "version": 6 if ":" in addr else 4,
        "addr": addr,
        "OS-EXT-IPS:type": kind,
        "OS-EXT-IPS-MAC:mac_addr": mac,
    }


def server_security_groups(server_id: str) -> list[dict[str, str]]:
    """The names of the security groups on the server's ports (Nova lists each once)."""
    with deps.db().session() as s:
        ids = {g for port in server_ports(s, server_id) for g in (port.security_group_ids or [])}
        names = s.scalars(select(SecurityGroup.name).where(SecurityGroup.id.in_(ids))).all()
    return [{"name": name} for name in sorted(set(names))]
