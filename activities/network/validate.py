"""Spec checks shared by the real and the fake driver: ``InvalidSpec`` for anything that
could never be realised, before anything on the host changes.

Ids become device, namespace, chain and file names, so they are held to a safe alphabet.
"""

from __future__ import annotations

import ipaddress
import re

from activities.network.base import (
    DhcpSpec,
    NetworkSpec,
    PortFilter,
    RouterPort,
    RouterSpec,
    SecurityRule,
)
from nimbus.errors import InvalidSpec

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
PROTOCOLS = ("tcp", "udp", "icmp", "ipv6-icmp")


def check_id(value: str, what: str = "id") -> str:
    if not _ID.match(value):
        raise InvalidSpec(f"{what} {value!r} is not a valid id")
    return value


def check_mac(value: str) -> str:
    mac = value.lower()
    if not _MAC.match(mac) or int(mac[:2], 16) & 1:
        raise InvalidSpec(f"{value!r} is not a unicast MAC address")
    return mac


def check_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise InvalidSpec(f"{value!r} is not an IP address") from exc


def check_interface(value: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """An address in CIDR form (``10.0.0.2/24``)."""
    if "/" not in value:
        raise InvalidSpec(f"{value!r} is not an address in CIDR form")
    try:
        return ipaddress.ip_interface(value)
    except ValueError as exc:
        raise InvalidSpec(f"{value!r} is not an address in CIDR form") from exc


def check_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value)
    except ValueError as exc:
        raise InvalidSpec(f"{value!r} is not a network in CIDR form") from exc


def _check_range(value: int, low: int, high: int, what: str) -> None:
    if not low <= value <= high:
        raise InvalidSpec(f"{what} {value} is not within {low}..{high}")


def check_network(spec: NetworkSpec) -> None:
    check_id(spec.network_id, "network id")
    _check_range(spec.segment, 1, 65535, "segment")
    _check_range(spec.mtu, 576, 65535, "mtu")
    if spec.host_address is not None:
        if not spec.external:
            raise InvalidSpec("only an external network takes a host address")
        check_interface(spec.host_address)
    for ip in (*spec.peers, spec.local_ip):
        check_ip(ip)


def check_dhcp(spec: DhcpSpec) -> None:
    check_id(spec.network_id, "network id")
    check_id(spec.port_id, "port id")
    check_mac(spec.mac)
    _check_range(spec.mtu, 576, 65535, "mtu")
    served = [check_interface(a) for a in spec.addresses]
    for subnet in spec.subnets:
        check_id(subnet.subnet_id, "subnet id")
        cidr = check_cidr(subnet.cidr)
        if not any(address in cidr for address in served):
            raise InvalidSpec(f"the DHCP port has no address in subnet {subnet.cidr}")
        for ip in (*subnet.dns_nameservers, *filter(None, [subnet.gateway_ip])):
            check_ip(ip)
        _check_range(subnet.lease_seconds, 120, 2**31 - 1, "lease time")
    for lease in spec.leases:
        check_mac(lease.mac)
        check_ip(lease.ip)


def _check_port(port: RouterPort) -> None:
    check_id(port.port_id, "port id")
    check_id(port.network_id, "network id")
    check_mac(port.mac)
    check_interface(port.address)


def check_router(spec: RouterSpec) -> None:
    check_id(spec.router_id, "router id")
    ports = [*spec.interfaces, *filter(None, [spec.gateway])]
    for port in ports:
        _check_port(port)
    if len({p.port_id[:11] for p in ports}) != len(ports):
        raise InvalidSpec("two router ports share the first 11 characters of their ids")
    gateway = spec.gateway
    if spec.gateway_ip is not None and gateway is not None:
        on_link = check_ip(spec.gateway_ip) in check_interface(gateway.address).network
        if not on_link:
            raise InvalidSpec(f"gateway {spec.gateway_ip} is not on {gateway.address}")
    if spec.floating and spec.gateway is None:
        raise InvalidSpec("floating IPs need a gateway")
    for nat in spec.floating:
        if check_ip(nat.floating_ip).version != 4 or check_ip(nat.fixed_ip).version != 4:
            raise InvalidSpec(f"floating IP NAT is IPv4 only: {nat}")


def check_rule(rule: SecurityRule) -> None:
    if rule.direction not in ("ingress", "egress"):
        raise InvalidSpec(f"direction {rule.direction!r} is not ingress or egress")
    if rule.ethertype not in ("IPv4", "IPv6"):
        raise InvalidSpec(f"ethertype {rule.ethertype!r} is not IPv4 or IPv6")
    protocol = rule.protocol
    number = protocol is not None and protocol.isdigit() and int(protocol) <= 255
    if protocol is not None and protocol not in PROTOCOLS and not number:
        raise InvalidSpec(f"protocol {protocol!r} is not known")
    ports = [p for p in (rule.port_min, rule.port_max) if p is not None]
    if ports and protocol not in PROTOCOLS:
        raise InvalidSpec("a port range needs protocol tcp, udp or icmp")
    for port in ports:
        _check_range(port, 0, 65535 if protocol in ("tcp", "udp") else 255, "port")
    if len(ports) == 2 and protocol in ("tcp", "udp") and ports[0] > ports[1]:
        raise InvalidSpec(f"port range {ports[0]}-{ports[1]} is empty")
    if rule.remote_cidr is not None and rule.remote_group is not None:
        raise InvalidSpec("a rule has a remote CIDR or a remote group, not both")
    if rule.remote_cidr is not None:
        cidr = check_cidr(rule.remote_cidr)
        if cidr.version != (4 if rule.ethertype == "IPv4" else 6):
            raise InvalidSpec(f"{rule.remote_cidr} is not an {rule.ethertype} network")
    if rule.remote_group is not None:
        check_id(rule.remote_group, "group id")


def check_filter(spec: PortFilter) -> None:
    check_id(spec.port_id, "port id")
    check_id(spec.network_id, "network id")
    _check_range(spec.tag, 1, 65535, "tag")
    _check_range(spec.zone, 1, 65535, "zone")
    check_mac(spec.mac)
    for ip in spec.ips:
        check_ip(ip)
    for rule in spec.rules:
        check_rule(rule)


def check_members(group_id: str, addresses: tuple[str, ...]) -> None:
    check_id(group_id, "group id")
    for ip in addresses:
        check_ip(ip)
