"""The network driver contract: the data plane of one host, declared, not scripted.

Every ``ensure_*`` method takes the whole desired state of one object and converges the
host to it: it creates what is missing, changes what differs and removes what the spec no
longer lists, so a retried or repeated call is harmless. Every ``delete_*`` method treats
a missing object as success. Backend errors are translated into ``nimbus.errors`` at the
driver boundary (``InvalidSpec`` for a spec that cannot be realised, ``BackendUnavailable``
for a host that cannot act right now, which is retried).

Devices are named from resource ids by the functions below, so that any worker (and the
hypervisor, which plugs guest NICs into bridges) finds them again after a crash:

    network   bridge ``brq<id11>`` + VXLAN ``vxlan-<segment>`` (tenant networks)
    DHCP      namespace ``qdhcp-<network id>``, dnsmasq inside, veth ``ns-<id11>`` in the
              namespace and ``tap<id11>`` on the bridge (id11: the DHCP port's id)
    router    namespace ``qrouter-<router id>``, ``qr-<id11>`` per interface and
              ``qg-<id11>`` for the gateway, each a veth whose host end ``tap<id11>`` is
              plugged into the network's bridge
    guest NIC a tap ``tap<id11>`` that libvirt creates on the network's bridge
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

#: Linux interface names hold at most 15 characters.
IFNAMSIZ = 15


def short(resource_id: str) -> str:
    """The first 11 characters of an id, as Neutron names devices."""
    return resource_id[:11]


BRIDGE_PREFIX = "brq"


def bridge_name(network_id: str) -> str:
    return f"{BRIDGE_PREFIX}{short(network_id)}"


def vxlan_name(segment: int) -> str:
    return f"vxlan-{segment}"


def tap_name(port_id: str) -> str:
    """The host-side device of a port: a guest's tap, or the host end of a veth."""
    return f"tap{short(port_id)}"


#: Where guests find the metadata service, as on every OpenStack cloud.
METADATA_IP = "169.254.169.254"
METADATA_CIDR = f"{METADATA_IP}/32"


def dhcp_namespace(network_id: str) -> str:
    return f"qdhcp-{network_id}"


def router_namespace(router_id: str) -> str:
    return f"qrouter-{router_id}"


@dataclass(frozen=True)
class NetworkSpec:
    """One L2 network on this host.

    Attributes:
        network_id: the network's uuid.
        segment: the VXLAN VNI (unique per network, 1..65535); also the conntrack zone that
            keeps this network's connections apart from those of networks with overlapping
            addresses.
        mtu: the bridge's MTU (1450 leaves room for the VXLAN header).
        external: a host-only bridge without VXLAN, for routers' gateways and floating IPs.
        host_address: external only: the address the host takes on the bridge
            (``172.24.4.1/24``), so it can reach floating IPs through this bridge alone.
        uplink: external only: whether traffic may be forwarded between this bridge and the
            host's other interfaces. Off unless an operator turns it on.
        peers: VTEP addresses of the other hosts carrying this network (flood entries).
        local_ip: this host's VTEP address.
    """

    network_id: str
    segment: int
    mtu: int = 1450
    external: bool = False
    host_address: str | None = None
    uplink: bool = False
    peers: tuple[str, ...] = ()
    local_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class HostRoute:
    """A route a subnet's DHCP server hands its clients (Neutron's ``host_routes``)."""

    destination: str
    nexthop: str


@dataclass(frozen=True)
class DhcpSubnet:
    """A subnet dnsmasq serves: static leases only, never a dynamic range."""

    subnet_id: str
    cidr: str
    gateway_ip: str | None = None
    dns_nameservers: tuple[str, ...] = ()
    lease_seconds: int = 86400
    host_routes: tuple[HostRoute, ...] = ()


@dataclass(frozen=True)
class DhcpLease:
    mac: str
    ip: str
    hostname: str


@dataclass(frozen=True)
class DhcpSpec:
    """The DHCP server of one network.

    Attributes:
        network_id: the network's uuid; the namespace is ``qdhcp-<network_id>``.
        port_id: the DHCP port, whose veth joins the namespace to the bridge.
        mac: the DHCP port's MAC address.
        addresses: the port's addresses in CIDR form (``10.0.0.2/24``), one per subnet.
        subnets: the subnets served (with DHCP enabled).
        leases: every port of the network that gets an address, by MAC.
        mtu: pushed to guests as DHCP option 26.
        generation: the plan's number; a driver ignores a spec older than one it applied.
    """

    network_id: str
    port_id: str
    mac: str
    addresses: tuple[str, ...]
    subnets: tuple[DhcpSubnet, ...]
    leases: tuple[DhcpLease, ...] = ()
    mtu: int = 1450
    generation: int = 0

    def older_than(self, applied: int) -> bool:
        """Whether a spec of generation ``applied`` already replaced this one."""
        return self.generation < applied


@dataclass(frozen=True)
class RouterPort:
    """An interface of a router: a veth from its namespace into a network's bridge."""

    port_id: str
    network_id: str
    mac: str
    address: str  # CIDR form: 10.0.0.1/24


@dataclass(frozen=True)
class FloatingNat:
    """1:1 NAT between a floating IP (on the gateway) and a fixed IP behind the router."""

    floating_ip: str
    fixed_ip: str


@dataclass(frozen=True)
class RouterSpec:
    """The whole state of one router.

    Attributes:
        router_id: the router's uuid; the namespace is ``qrouter-<router_id>``.
        interfaces: its interfaces on internal networks (``qr-``).
        gateway: its port on the external network (``qg-``), if it has a gateway.
        gateway_ip: the external subnet's gateway: the router's default route.
        snat: masquerade traffic from the internal networks leaving by the gateway.
        floating: floating IPs held on the gateway and their fixed IPs.
    """

    router_id: str
    interfaces: tuple[RouterPort, ...] = ()
    gateway: RouterPort | None = None
    gateway_ip: str | None = None
    snat: bool = True
    floating: tuple[FloatingNat, ...] = ()


@dataclass(frozen=True)
class SecurityRule:
    """One security group rule, as a filter sees it.

    ``protocol`` is ``tcp``, ``udp``, ``icmp`` or an IP protocol number as a string, or
    None for any; the port range applies to tcp and udp (for icmp: type and code). At most
    one of ``remote_cidr`` and ``remote_group`` is set; neither means any address.
    """

    direction: str  # "ingress" | "egress"
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote_cidr: str | None = None
    remote_group: str | None = None


@dataclass(frozen=True)
class PortFilter:
    """Anti-spoofing and the stateful security group rules of one port.

    Attributes:
        port_id: the port's uuid; its device is ``tap<id11>``.
        network_id: the network the port is on.
        zone: the network's conntrack zone (its segment).
        tag: a small integer (1..65535) unique among this host's filtered ports.
        mac: the only source MAC the port may send from.
        ips: the only source addresses it may send from (DHCP discovery aside).
        rules: the union of its security groups' rules. Ingress not allowed by a rule is
            dropped; egress not allowed by a rule is dropped; replies to allowed
            connections pass both ways; DHCP replies always reach the port.
        port_security: False turns filtering and anti-spoofing off for the port.
    """

    port_id: str
    network_id: str
    zone: int
    tag: int
    mac: str
    ips: tuple[str, ...]
    rules: tuple[SecurityRule, ...] = ()
    port_security: bool = True


@dataclass(frozen=True)
class DataPlaneState:
    """What a driver has realised on its host, by resource id (for reconcile and tests)."""

    networks: frozenset[str] = field(default_factory=frozenset)
    dhcp: frozenset[str] = field(default_factory=frozenset)
    routers: frozenset[str] = field(default_factory=frozenset)
    port_filters: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)


class NetworkDriver(Protocol):
    """The network data plane of one host."""

    def ensure_network(self, spec: NetworkSpec) -> None:
        """Create (or converge) the network's bridge, and its VXLAN unless external.

        Idempotent. An external network's bridge gets ``host_address`` and is cut off from
        the host's other interfaces unless ``uplink``.
        """
        ...

    def delete_network(self, network_id: str) -> None:
        """Remove the network's bridge and VXLAN. A missing network is success.

        Devices still plugged into the bridge (guest taps) are unplugged, not deleted.
        """
        ...

    def ensure_dhcp(self, spec: DhcpSpec) -> None:
        """Create (or converge) the network's DHCP namespace, veth and dnsmasq.

        Idempotent: a running dnsmasq is reloaded (not restarted) when leases change, and
        restarted if it died. The network must exist (``NotFound`` otherwise). A spec of an
        older ``generation`` than the one applied changes nothing: plans made concurrently
        may arrive out of order, and the late, older one would drop newer leases.
        """
        ...

    def delete_dhcp(self, network_id: str) -> None:
        """Stop dnsmasq and remove the namespace, the veth and the files. Missing is fine."""
        ...

    def ensure_router(self, spec: RouterSpec) -> None:
        """Converge the router's namespace to ``spec``: interfaces, gateway, default
        route, SNAT and floating IP NAT. Interfaces and NAT entries the spec no longer
        lists are removed. The networks of its ports must exist (``NotFound``)."""
        ...

    def delete_router(self, router_id: str) -> None:
        """Remove the router's namespace, its veths and its NAT rules. Missing is fine."""
        ...

    def ensure_port_filter(self, spec: PortFilter) -> None:
        """Install (or replace) the port's anti-spoofing and security group filter.

        Works before the port's device exists: the filter applies once it appears.
        """
        ...

    def remove_port_filter(self, port_id: str) -> None:
        """Remove the port's filter. A missing filter is success."""
        ...

    def set_group_members(self, group_id: str, addresses: tuple[str, ...]) -> None:
        """Set the addresses of a security group's ports, which rules with that
        ``remote_group`` match. Idempotent."""
        ...

    def delete_group(self, group_id: str) -> None:
        """Forget a security group's member set. A missing group is success."""
        ...

    def state(self) -> DataPlaneState:
        """What exists on this host, read back from the host itself (not from memory)."""
        ...

    def bridges(self) -> frozenset[str]:
        """Every bridge on this host named as a network's are (``brq<id11>``), whoever made
        it: what the reconciler compares with the networks' rows."""
        ...
