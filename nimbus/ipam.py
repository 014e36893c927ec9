"""IP address management for IPv4 subnets: pure functions over ``ipaddress`` values.

A subnet's layout is its CIDR, an optional gateway and allocation pools (inclusive
ranges). Addresses are handed out lowest first from the pools; explicitly requested
addresses may lie anywhere in the subnet's host range. Every check raises ``InvalidSpec``
with a message that names the offending value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nimbus.errors import InvalidSpec

#: Subnet sizes accepted: a /29 leaves room for a gateway, a DHCP server and four ports.
MIN_PREFIX, MAX_PREFIX = 8, 29
MAX_NAMESERVERS, MAX_HOST_ROUTES = 5, 20

IPv4 = ipaddress.IPv4Address
Net = ipaddress.IPv4Network
AnyNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Pool:
    """An inclusive range of addresses."""

    start: IPv4
    end: IPv4

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, IPv4) and self.start <= ip <= self.end

    def as_dict(self) -> dict[str, str]:
        return {"start": str(self.start), "end": str(self.end)}


@dataclass(frozen=True)
class Layout:
    """A validated subnet: its network, gateway (None: no gateway) and pools."""

    cidr: Net
    gateway: IPv4 | None
    pools: tuple[Pool, ...]


def parse_ip(value: Any, label: str = "ip_address") -> IPv4:
    """An IPv4 address, or ``InvalidSpec`` naming ``label``."""
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise InvalidSpec(
            f"Invalid input for {label}: '{value}' is not a valid IPv4 address."
        ) from exc


def parse_network(value: Any, label: str = "cidr", version: int = 4, strict: bool = True) -> AnyNet:
    """A CIDR of ``version`` in canonical form (``10.0.0.0/24``); with ``strict``, one with
    host bits set (``10.0.0.1/24``) is refused, else it is normalized."""
    if not isinstance(value, str) or "/" not in value:
        raise InvalidSpec(f"Invalid input for {label}: '{value}' is not a valid CIDR.")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise InvalidSpec(f"Invalid input for {label}: '{value}' is not a valid CIDR.") from exc
    if strict and str(net) != value.lower():
        raise InvalidSpec(
            f"Invalid input for {label}: '{value}' isn't a recommended CIDR,"
            f" '{net}' is recommended."
        )
    if net.version != version:
        raise InvalidSpec(f"Invalid input for {label}: '{value}' is not an IPv{version} CIDR.")
    return net


def parse_cidr(value: Any) -> Net:
    """A subnet's IPv4 CIDR, canonical, from /``MIN_PREFIX`` to /``MAX_PREFIX``."""
    net = parse_network(value)
    assert isinstance(net, Net)
    if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX:
        raise InvalidSpec(
            f"Invalid input for cidr: '{value}': the prefix length must be from"
            f" {MIN_PREFIX} to {MAX_PREFIX}."
        )
    return net


def first_host(net: Net) -> IPv4:
    return net.network_address + 1


def last_host(net: Net) -> IPv4:
    return net.broadcast_address - 1


def is_host(net: Net, ip: IPv4) -> bool:
    """Whether ``ip`` is an address a port may hold in ``net`` (not network or broadcast)."""
    return first_host(net) <= ip <= last_host(net)


def check_host(net: Net, ip: IPv4, label: str) -> None:
    if not is_host(net, ip):
        raise InvalidSpec(
            f"Invalid input for {label}: {ip} is not a usable address of subnet {net}."
        )


def default_pools(net: Net, gateway: IPv4 | None) -> tuple[Pool, ...]:
    """The whole host range, less the gateway (so one pool, or two around the gateway)."""
    lo, hi = first_host(net), last_host(net)
    if gateway is None or not lo <= gateway <= hi:
        return (Pool(lo, hi),)
    pools = []
    if gateway > lo:
        pools.append(Pool(lo, gateway - 1))
    if gateway < hi:
        pools.append(Pool(gateway + 1, hi))
    return tuple(pools)


def parse_pools(raw: Any, net: Net, gateway: IPv4 | None) -> tuple[Pool, ...]:
    """Requested pools: inside the host range, each start <= end, disjoint, gateway-free."""
    if not isinstance(raw, list) or not raw:
        raise InvalidSpec("Invalid input for allocation_pools: expected a non-empty list.")
    pools = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidSpec("Invalid input for allocation_pools: each pool needs start and end.")
        start = parse_ip(item.get("start"), "allocation_pools start")
        end = parse_ip(item.get("end"), "allocation_pools end")
        if start > end:
            raise InvalidSpec(f"Allocation pool {start}-{end}: start is after end.")
        if not (is_host(net, start) and is_host(net, end)):
            raise InvalidSpec(f"Allocation pool {start}-{end} is outside the subnet {net}.")
        if gateway is not None and start <= gateway <= end:
            raise InvalidSpec(f"Gateway ip {gateway} conflicts with allocation pool {start}-{end}.")
        pools.append(Pool(start, end))
    pools.sort(key=lambda p: p.start)
    for a, b in zip(pools, pools[1:], strict=False):
        if b.start <= a.end:
            raise InvalidSpec(
                f"Found overlapping allocation pools: {a.start}-{a.end} and {b.start}-{b.end}."
            )
    return tuple(pools)


def plan_subnet(cidr: Any, gateway: Any = "default", pools: Any = None) -> Layout:
    """Validate a subnet request. ``gateway``: "default" for the first host, None for
    none, else an address in the subnet; ``pools``: None for the defaults."""
    net = parse_cidr(cidr)
    gw: IPv4 | None
    if gateway == "default":
        gw = first_host(net)
    elif gateway is None:
        gw = None
    else:
        gw = parse_ip(gateway, "gateway_ip")
        if gw not in net:
            raise InvalidSpec(f"Gateway IP {gw} is outside the subnet {net}.")
        check_host(net, gw, "gateway_ip")
    layout = default_pools(net, gw) if pools is None else parse_pools(pools, net, gw)
    return Layout(net, gw, layout)


def overlapping(net: Net, others: Iterable[tuple[str, str]]) -> str | None:
    """The id of the first ``(id, cidr)`` in ``others`` that overlaps ``net``, if any."""
    for other_id, other_cidr in others:
        if net.overlaps(ipaddress.ip_network(other_cidr)):
            return other_id
    return None


def next_free(pools: Sequence[Pool], used: Iterable[str | IPv4]) -> IPv4 | None:
    """The lowest address in ``pools`` (in pool order) not in ``used``; None if full."""
    taken = sorted(int(ipaddress.IPv4Address(u)) for u in used)
    for pool in sorted(pools, key=lambda p: p.start):
        candidate = int(pool.start)
        for address in taken:
            if address == candidate:
                candidate += 1
            elif address > candidate:
                break
        if candidate <= int(pool.end):
            return ipaddress.IPv4Address(candidate)
    return None


def pools_from_rows(rows: Sequence[dict[str, str]]) -> tuple[Pool, ...]:
    """Pools as stored (``[{"start", "end"}]``)."""
    return tuple(Pool(IPv4(r["start"]), IPv4(r["end"])) for r in rows)


def parse_nameservers(raw: Any) -> list[str]:
    """DNS servers: distinct IPv4 addresses, at most ``MAX_NAMESERVERS``."""
    if not isinstance(raw, list):
        raise InvalidSpec("Invalid input for dns_nameservers: expected a list of addresses.")
    if len(raw) > MAX_NAMESERVERS:
        raise InvalidSpec(f"Too many dns_nameservers: at most {MAX_NAMESERVERS}.")
    servers = [str(parse_ip(x, "dns_nameservers")) for x in raw]
    if len(set(servers)) != len(servers):
        raise InvalidSpec(f"Duplicate address in dns_nameservers: {raw}.")
    return servers


def parse_host_routes(raw: Any, net: Net) -> list[dict[str, str]]:
    """Host routes: distinct destinations (CIDRs) via next hops inside the subnet."""
    if not isinstance(raw, list):
        raise InvalidSpec("Invalid input for host_routes: expected a list of routes.")
    if len(raw) > MAX_HOST_ROUTES:
        raise InvalidSpec(f"Too many host_routes: at most {MAX_HOST_ROUTES}.")
    routes = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidSpec("Invalid input for host_routes: each needs destination and nexthop.")
        destination = parse_network(item.get("destination"), "host_routes destination")
        nexthop = parse_ip(item.get("nexthop"), "host_routes nexthop")
        if nexthop not in net:
            raise InvalidSpec(f"Host route nexthop {nexthop} is outside the subnet {net}.")
        routes.append({"destination": str(destination), "nexthop": str(nexthop)})
    if len({r["destination"] for r in routes}) != len(routes):
        raise InvalidSpec("Duplicate destination in host_routes.")
    return routes
