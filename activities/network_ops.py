"""Host-bound network activities: thin, idempotent wrappers over one host's NetworkDriver.

They run on the worker polling ``host-<name>``. Each takes the whole desired state of one
object (built from the database by ``activities.network_records``), so a retried activity
converges to the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.network.base import (
    DhcpSpec,
    NetworkDriver,
    NetworkSpec,
    PortFilter,
    RouterSpec,
)


@dataclass(frozen=True)
class NetworkRef:
    network_id: str


@dataclass(frozen=True)
class RouterRef:
    router_id: str


@dataclass(frozen=True)
class PortRef:
    port_id: str


@dataclass(frozen=True)
class GroupRef:
    group_id: str


@dataclass(frozen=True)
class GroupMembers:
    group_id: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class HostPlug:
    """What a server's ports need on their host (``plug_host``): each network's bridge,
    the member addresses of each security group with a port on the host, each port's
    filter (``unfiltered``: ports whose filter is removed), and the DHCP servers on the
    host of the server's networks, with the ports' leases."""

    networks: tuple[NetworkSpec, ...] = ()
    groups: tuple[GroupMembers, ...] = ()
    filters: tuple[PortFilter, ...] = ()
    unfiltered: tuple[str, ...] = ()
    dhcp: tuple[DhcpSpec, ...] = ()


class NetworkActivities:
    """The data plane of this host, as activities."""

    def __init__(self, driver: NetworkDriver) -> None:
        self.driver = driver

    @activity.defn
    def ensure_network(self, spec: NetworkSpec) -> None:
        """Create or converge the network's bridge (and VXLAN) on this host."""
        self.driver.ensure_network(spec)

    @activity.defn
    def delete_network(self, inp: NetworkRef) -> None:
        """Remove the network's bridge from this host; missing is success."""
        self.driver.delete_network(inp.network_id)

    @activity.defn
    def ensure_dhcp(self, spec: DhcpSpec) -> None:
        """Create or converge the network's DHCP namespace and dnsmasq."""
        self.driver.ensure_dhcp(spec)

    @activity.defn
    def delete_dhcp(self, inp: NetworkRef) -> None:
        """Stop the network's DHCP server; missing is success."""
        self.driver.delete_dhcp(inp.network_id)

    @activity.defn
    def ensure_router(self, spec: RouterSpec) -> None:
        """Converge the router's namespace: interfaces, gateway, SNAT, floating IPs."""
        self.driver.ensure_router(spec)

    @activity.defn
    def delete_router(self, inp: RouterRef) -> None:
        """Remove the router's namespace; missing is success."""
        self.driver.delete_router(inp.router_id)

    @activity.defn
    def ensure_port_filter(self, spec: PortFilter) -> None:
        """Install or replace the port's security group filter."""
        self.driver.ensure_port_filter(spec)

    @activity.defn
    def remove_port_filter(self, inp: PortRef) -> None:
        """Remove the port's filter; missing is success."""
        self.driver.remove_port_filter(inp.port_id)

    @activity.defn
    def set_group_members(self, inp: GroupMembers) -> None:
        """Set the addresses a remote-group rule of this group matches."""
        self.driver.set_group_members(inp.group_id, inp.addresses)

    @activity.defn
    def plug_host(self, inp: HostPlug) -> None:
        """Converge each part of ``inp`` as its own activity would, in one step: bridges,
        then group members, then filters (whose rules name the groups' sets), then DHCP
        servers (on their bridges). A boot's ports take one round trip through the
        Temporal server rather than one a part, while its root disk is cloned beside.
        Every part converges, so a retry after a crash part-way does them all again."""
        for network in inp.networks:
            self.driver.ensure_network(network)
        for group in inp.groups:
            self.driver.set_group_members(group.group_id, group.addresses)
        for port_filter in inp.filters:
            self.driver.ensure_port_filter(port_filter)
        for port_id in inp.unfiltered:
            self.driver.remove_port_filter(port_id)
        for dhcp in inp.dhcp:
            self.driver.ensure_dhcp(dhcp)

    @activity.defn
    def delete_group(self, inp: GroupRef) -> None:
        """Forget the group's member set; missing is success."""
        self.driver.delete_group(inp.group_id)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of this class, for a worker to register."""
        return [
            self.ensure_network,
            self.delete_network,
            self.ensure_dhcp,
            self.delete_dhcp,
            self.ensure_router,
            self.delete_router,
            self.ensure_port_filter,
            self.remove_port_filter,
            self.set_group_members,
            self.plug_host,
            self.delete_group,
        ]
