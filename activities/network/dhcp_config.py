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

from activities.network.base import DhcpSpec, DhcpSubnet, short

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


def opts_file(spec: DhcpSpec) -> str:
    """Options by subnet tag: router (3) and DNS servers (6), each sent empty when unset so
    dnsmasq does not offer itself, and the MTU (26) for every client."""
    lines = []
    for subnet, _ in served(spec):
        lines.append(",".join([f"tag:{tag(subnet)}", "3", *filter(None, [subnet.gateway_ip])]))
        lines.append(",".join([f"tag:{tag(subnet)}", "6", *subnet.dns_nameservers]))
    lines.append(f"26,{spec.mtu}")
    return "".join(f"{line}\n" for line in lines)


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
