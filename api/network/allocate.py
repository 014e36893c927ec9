"""Choosing what must be unique: segments, port tags, MAC addresses and fixed IPs.

Each choice is the lowest free value read inside the caller's transaction; the database's
unique constraints catch a concurrent request that chose the same value, and
``common.transaction`` then runs the whole request again with fresh reads.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.network import faults
from nimbus import ipam
from nimbus.db_network import NETWORK_OWNED, IPAllocation, Network, Port, Subnet, lowest_free
from nimbus.errors import Conflict, InvalidSpec

MAC_PREFIX = "fa:16:3e"
_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def free_number(s: Session, column: InstrumentedAttribute[Any]) -> int:
    """The lowest integer in 1..65535 that no row holds in ``column`` (409 if none)."""
    value = lowest_free(s, column)
    if value is None:
        raise Conflict(f"No free value left for {column.key}: all of 1..65535 are used.")
    return value


def parse_mac(value: Any) -> str:
    """A unicast MAC address, lower case."""
    mac = value.lower() if isinstance(value, str) else ""
    if not _MAC.match(mac) or int(mac[:2], 16) & 1:
        raise InvalidSpec(f"Invalid input for mac_address: '{value}' is not a valid MAC address.")
    return mac


def free_mac(s: Session, wanted: str | None, network_id: str) -> str:
    """``wanted`` if no port uses it (409 otherwise), or a random unused fa:16:3e address."""
    if wanted is not None:
        if s.scalars(select(Port.id).where(Port.mac_address == wanted)).first():
            raise faults.MacAddressInUse(wanted, network_id)
        return wanted
    while True:
        mac = MAC_PREFIX + "".join(f":{b:02x}" for b in secrets.token_bytes(3))
        if not s.scalars(select(Port.id).where(Port.mac_address == mac)).first():
            return mac


@dataclass(frozen=True)
class IpRequest:
    """One entry of ``fixed_ips``: a subnet, an address, or both."""

    subnet_id: str | None = None
    ip_address: str | None = None


def parse_fixed_ips(raw: Any) -> list[IpRequest] | None:
    """``fixed_ips`` as requested; None when absent (one address is then chosen)."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise InvalidSpec("Invalid input for fixed_ips: expected a list of objects.")
    requests = []
    for item in raw:
        subnet_id, ip = item.get("subnet_id"), item.get("ip_address")
        if subnet_id is None and ip is None:
            raise InvalidSpec("Invalid input for fixed_ips: each needs subnet_id or ip_address.")
        if ip is not None:
            ip = str(ipam.parse_ip(ip, "fixed_ips ip_address"))
        requests.append(IpRequest(subnet_id, ip))
    return requests


def _subnets(s: Session, network_id: str) -> list[Subnet]:
    query = select(Subnet).where(Subnet.network_id == network_id).order_by(Subnet.created_at)
    return list(s.scalars(query))


def _used(s: Session, subnet: Subnet) -> set[str]:
    rows = s.scalars(select(IPAllocation.ip_address).where(IPAllocation.subnet_id == subnet.id))
    return set(rows) | ({subnet.gateway_ip} if subnet.gateway_ip else set())


def _pick(s: Session, subnet: Subnet, chosen: set[str]) -> str | None:
    free = ipam.next_free(ipam.pools_from_rows(subnet.allocation_pools), _used(s, subnet) | chosen)
    return str(free) if free is not None else None


def _explicit(s: Session, subnet: Subnet, ip: str) -> str:
    """A requested address: anywhere in the subnet's host range (pools only bound the
    automatic choice), the gateway's included (a router interface is made that way)."""
    net = ipam.parse_cidr(subnet.cidr)
    address = ipam.parse_ip(ip)
    if address not in net:
        raise InvalidSpec(
            f"Invalid input for fixed_ips: IP address {ip} is not a valid IP for the"
            f" specified subnet {subnet.id} ({subnet.cidr})."
        )
    ipam.check_host(net, address, "fixed_ips")
    taken = select(IPAllocation.port_id).where(
        IPAllocation.network_id == subnet.network_id, IPAllocation.ip_address == ip
    )
    if s.scalars(taken).first():
        raise faults.IpAddressAlreadyAllocated(ip, subnet.id)
    return ip


def _resolve(subnets: list[Subnet], req: IpRequest, network_id: str) -> Subnet:
    """The subnet a request names, or the one of the network holding its address."""
    for subnet in subnets:
        if req.subnet_id is not None and subnet.id == req.subnet_id:
            return subnet
        inside = req.ip_address is not None and ipam.IPv4(req.ip_address) in ipam.parse_cidr(
            subnet.cidr
        )
        if req.subnet_id is None and inside:
            return subnet
    if req.subnet_id is not None:
        raise InvalidSpec(
            f"Invalid input for fixed_ips: subnet {req.subnet_id} is not on network {network_id}."
        )
    raise InvalidSpec(
        f"Invalid input for fixed_ips: IP address {req.ip_address} is in no subnet of"
        f" network {network_id}."
    )


def choose_ips(
    s: Session, network_id: str, requests: list[IpRequest] | None
) -> list[tuple[str, str]]:
    """``(subnet_id, address)`` pairs for a port: as requested, or (``requests`` None) the
    lowest free address of the first subnet that has one; none on a network without
    subnets. A port may hold several addresses of one subnet, never one address twice."""
    subnets = _subnets(s, network_id)
    if requests is None:
        for subnet in subnets:
            ip = _pick(s, subnet, set())
            if ip is not None:
                return [(subnet.id, ip)]
        if subnets:
            raise faults.IpAddressGenerationFailure(network_id)
        return []
    chosen: list[tuple[str, str]] = []
    for req in requests:
        subnet = _resolve(subnets, req, network_id)
        taken = {address for _, address in chosen}
        if req.ip_address is not None:
            if req.ip_address in taken:
                raise InvalidSpec(
                    f"Invalid input for fixed_ips: {req.ip_address} is requested twice."
                )
            address: str | None = _explicit(s, subnet, req.ip_address)
        else:
            address = _pick(s, subnet, taken)
        if address is None:
            raise faults.IpAddressGenerationFailure(network_id)
        chosen.append((subnet.id, address))
    return chosen


def add_port(
    s: Session,
    network: Network,
    project_id: str,
    requests: list[IpRequest] | None,
    mac: str | None = None,
    **attrs: Any,
) -> Port:
    """A new port row with its addresses (and a tag unless the network owns it)."""
    port = Port(project_id=project_id, network_id=network.id, **attrs)
    port.mac_address = free_mac(s, mac, network.id)
    if port.device_owner not in NETWORK_OWNED:
        port.tag = free_number(s, Port.tag)
    s.add(port)
    s.flush()
    for subnet_id, ip in choose_ips(s, network.id, requests):
        s.add(
            IPAllocation(port_id=port.id, subnet_id=subnet_id, network_id=network.id, ip_address=ip)
        )
    s.flush()
    return port
