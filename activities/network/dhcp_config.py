"""dnsmasq's command line and files for one network's DHCP server (text only, no I/O).

dnsmasq serves static leases only (``static`` ranges: an unknown MAC gets nothing) and no
DNS (``--port=0``). What can change without a restart lives in two files it re-reads on
SIGHUP: the hosts file (one line a lease) and the options file (router, DNS servers, MTU).
IPv4 subnets only; IPv6 subnets in a spec are not served.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from activities.network.base import METADATA_CIDR, DhcpSpec, DhcpSubnet, short

_LABEL = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class DnsmasqFiles:
    """Where one network's dnsmasq keeps its files."""

    directory: Path

    @property
    def hosts(self) -> Path:
        return self.directory / "hosts"

    @property
    def opts(self) -> Path:
        return self.directory / "opts"

    @property
    def pid(self) -> Path:
        return self.directory / "pid"

    @property
    def log(self) -> Path:
        return self.directory / "log"


def device(port_id: str) -> str:
    """The DHCP port's device inside the namespace."""
    return f"ns-{short(port_id)}"


def hostname(name: str) -> str:
    """``name`` as a DNS label dnsmasq accepts (empty if nothing of it is usable)."""
    return _LABEL.sub("-", name.lower()).strip("-")[:63].strip("-")


def served(spec: DhcpSpec) -> list[tuple[DhcpSubnet, ipaddress.IPv4Network]]:
    """The IPv4 subnets dnsmasq serves, with their networks."""
    subnets = []
    for subnet in spec.subnets:
        network = ipaddress.ip_network(subnet.cidr)
        if isinstance(network, ipaddress.IPv4Network):
            subnets.append((subnet, network))
    return subnets


def hosts_file(spec: DhcpSpec) -> str:
    """One ``mac,ip[,hostname]`` line per lease in a served subnet, sorted by MAC."""
    networks = [network for _, network in served(spec)]
    lines = []
    for lease in sorted(spec.leases, key=lambda lease: lease.mac):
        ip = ipaddress.ip_address(lease.ip)
        if any(ip in network for network in networks):
            name = hostname(lease.hostname)
            lines.append(",".join([lease.mac.lower(), str(ip), *([name] if name else [])]))
    return "".join(f"{line}\n" for line in lines)


def tag(subnet: DhcpSubnet) -> str:
    return f"s-{subnet.subnet_id}"


def opts_file(spec: DhcpSpec, metadata: bool = False) -> str:
    """Options by subnet tag: router (3) and DNS servers (6), each sent empty when unset so
    dnsmasq does not offer itself, classless static routes (121) when there are any, and
    the MTU (26) for every client."""
    lines = []
    for subnet, network in served(spec):
        lines.append(",".join([f"tag:{tag(subnet)}", "3", *filter(None, [subnet.gateway_ip])]))
        lines.append(",".join([f"tag:{tag(subnet)}", "6", *subnet.dns_nameservers]))
        routes = static_routes(subnet, own_address(spec, network) if metadata else None)
        if routes:
            words = [word for route in routes for word in route]
            lines.append(",".join([f"tag:{tag(subnet)}", "option:classless-static-route", *words]))
    lines.append(f"26,{spec.mtu}")
    return "".join(f"{line}\n" for line in lines)


def own_address(spec: DhcpSpec, network: ipaddress.IPv4Network) -> str | None:
    """The DHCP port's address in ``network``."""
    for text in spec.addresses:
        address = ipaddress.ip_interface(text)
        if address.ip in network:
            return str(address.ip)
    return None


def static_routes(subnet: DhcpSubnet, metadata_via: str | None) -> list[tuple[str, str]]:
    """Option 121's ``(destination, next hop)`` pairs: the metadata address through the
    DHCP port, the subnet's host routes, and then the default route, since a client that
    gets option 121 ignores option 3 (RFC 3442). Empty when there is nothing to route."""
    routes = [(METADATA_CIDR, metadata_via)] if metadata_via else []
    routes += [(route.destination, route.nexthop) for route in subnet.host_routes]
    if not routes:
        return []
    if subnet.gateway_ip and all(dest != "0.0.0.0/0" for dest, _ in routes):
        routes.append(("0.0.0.0/0", subnet.gateway_ip))
    return routes


def argv(spec: DhcpSpec, binary: str, files: DnsmasqFiles, user: str) -> list[str]:
    """The daemon's command line: a change here needs a restart, not a reload."""
    ranges = [
        f"--dhcp-range=set:{tag(subnet)},{network.network_address},static,"
        f"{network.netmask},{subnet.lease_seconds}s"
        for subnet, network in served(spec)
    ]
    return [
        binary,
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        "--port=0",
        "--bind-interfaces",
        f"--interface={device(spec.port_id)}",
        "--except-interface=lo",
        "--leasefile-ro",
        f"--user={user}",
        f"--pid-file={files.pid}",
        f"--dhcp-hostsfile={files.hosts}",
        f"--dhcp-optsfile={files.opts}",
        f"--log-facility={files.log}",
        *ranges,
    ]
