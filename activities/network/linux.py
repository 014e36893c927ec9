"""``LinuxNetworkDriver``: the ``NetworkDriver`` contract on one Linux host.

Bridges and VXLAN through pyroute2, DHCP and routers in namespaces (``dhcp``, ``router``),
port filters and network zones in two nftables tables named ``table`` (``host_tables``).
Each public method translates backend errors in one place (``errors.translated``), and
holds the lock of the object it changes, so concurrent activities on one object take turns.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from activities.network import devices, dhcp, netns, router, validate
from activities.network.base import (
    BRIDGE_PREFIX,
    DataPlaneState,
    DhcpSpec,
    NetworkSpec,
    PortFilter,
    RouterSpec,
    bridge_name,
    router_namespace,
    vxlan_name,
)
from activities.network.dhcp_config import DnsmasqFiles
from activities.network.errors import translated
from activities.network.host_tables import FilterEntry, HostTables, NetworkEntry
from activities.network.locks import KeyedLocks
from activities.network.metadata_proxy import MetadataProxy
from activities.network.nft_filter import group_set, ingress_chain, isolation_chain
from activities.network.records import Records
from nimbus.errors import NotFound

BRIDGE_NF = ("net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables")


def network_entry(record: dict[str, Any]) -> NetworkEntry:
    """What the host tables hold for a network, from its spec's fields."""
    external = bool(record["external"])
    zone = None if external else int(record["segment"])
    return NetworkEntry(zone, external and not record["uplink"])


def filter_entry(record: dict[str, Any]) -> FilterEntry:
    """What the host tables hold for a port filter, from its spec's fields."""
    return FilterEntry(int(record["tag"]), bool(record["port_security"]))


class LinuxNetworkDriver:
    """The data plane of this host, recorded under ``state_dir``; ``table`` names its
    nftables tables (two drivers with different tables do not see each other's ports)."""

    def __init__(
        self,
        state_dir: Path,
        table: str = "nimbus",
        dnsmasq: str = "dnsmasq",
        metadata: MetadataProxy | None = None,
    ) -> None:
        self.records = Records(Path(state_dir))
        self.tables = HostTables(table)
        self.dnsmasq = dnsmasq
        self.metadata = metadata
        self._dnsmasq_user = dhcp.dnsmasq_user(Path(state_dir))
        self._locks = KeyedLocks()

    def _files(self, network_id: str) -> DnsmasqFiles:
        return DnsmasqFiles(self.records.root / "dhcp" / network_id)

    def _bridge_nf(self) -> None:
        """Bridged IP traffic goes through the inet hooks (host-wide, br_netfilter)."""
        for key in BRIDGE_NF:
            netns.write_sysctl(key, "1")

    def _require_network(self, network_id: str) -> None:
        with IPRoute() as ipr:
            bridge = devices.get(ipr, bridge_name(network_id))
        if self.records.read("networks", network_id) is None or bridge is None:
            raise NotFound(f"network {network_id} is not on this host")

    def _drop_tables_if_idle(self) -> None:
        self.tables.drop_tables(self.records.empty)

    def ensure_network(self, spec: NetworkSpec) -> None:
        """See ``NetworkDriver.ensure_network``."""
        validate.check_network(spec)
        with translated("ensure_network"), self._locks.hold(f"net-{spec.network_id}"):
            previous = self.records.read("networks", spec.network_id)
            self.records.write("networks", spec.network_id, spec)
            self._bridge_nf()
            with IPRoute() as ipr:
                self._converge_bridge(ipr, spec)
            entry = network_entry(spec.__dict__)
            self.tables.add_network(
                spec.network_id, entry, None if previous is None else network_entry(previous)
            )

    def _converge_bridge(self, ipr: IPRoute, spec: NetworkSpec) -> None:
        """The bridge with only this network's VXLAN on it (none if external)."""
        bridge = bridge_name(spec.network_id)
        index = devices.ensure_bridge(ipr, bridge, spec.mtu)
        keep = None if spec.external else vxlan_name(spec.segment)
        for port in devices.bridge_ports(bridge):
            if port != keep and devices.is_vxlan(port):
                devices.delete(ipr, port)
        if spec.external:
            host = [ipaddress.ip_interface(spec.host_address)] if spec.host_address else []
            devices.sync_addresses(ipr, index, host)
        else:
            self._converge_vxlan(ipr, spec, index)

    @staticmethod
    def _converge_vxlan(ipr: IPRoute, spec: NetworkSpec, bridge: int) -> None:
        name, vxlan = bridge_name(spec.network_id), vxlan_name(spec.segment)
        devices.no_ipv6(name)
        index, fresh = devices.ensure_vxlan(
            ipr, vxlan, spec.segment, spec.local_ip, spec.mtu, bridge
        )
        devices.no_ipv6(vxlan)
        devices.sync_flood(vxlan, index, spec.peers, fresh)

    def delete_network(self, network_id: str) -> None:
        """See ``NetworkDriver.delete_network``."""
        validate.check_id(network_id, "network id")
        with translated("delete_network"), self._locks.hold(f"net-{network_id}"):
            record = self.records.read("networks", network_id)
            with IPRoute() as ipr:
                for port in devices.bridge_ports(bridge_name(network_id)):
                    if devices.is_vxlan(port):
                        devices.delete(ipr, port)
                devices.delete(ipr, bridge_name(network_id))
                if record is not None and not record["external"]:
                    self._delete_orphan_vxlan(ipr, vxlan_name(record["segment"]))
            self.tables.remove_network(
                network_id, None if record is None else network_entry(record)
            )
            self.records.remove("networks", network_id)
            self._drop_tables_if_idle()

    @staticmethod
    def _delete_orphan_vxlan(ipr: IPRoute, name: str) -> None:
        """A VXLAN created but never enslaved (a crash in between) goes with its network."""
        link = devices.get(ipr, name)
        if link is not None and link.get_attr("IFLA_MASTER") is None:
            devices.delete(ipr, name)

    def ensure_dhcp(self, spec: DhcpSpec) -> None:
        """See ``NetworkDriver.ensure_dhcp``."""
        validate.check_dhcp(spec)
        with translated("ensure_dhcp"), self._locks.hold(f"net-{spec.network_id}"):
            self._require_network(spec.network_id)
            applied = self.records.read("dhcp", spec.network_id) or {}
            if spec.older_than(int(applied.get("generation", 0))):
                return  # a newer plan arrived first; this late one would drop its leases
            self.records.write("dhcp", spec.network_id, spec)
            files = self._files(spec.network_id)
            dhcp.ensure(spec, files, self.dnsmasq, self._dnsmasq_user, self.metadata)

    def delete_dhcp(self, network_id: str) -> None:
        """See ``NetworkDriver.delete_dhcp``."""
        validate.check_id(network_id, "network id")
        with translated("delete_dhcp"), self._locks.hold(f"net-{network_id}"):
            dhcp.delete(network_id, self._files(network_id))
            self.records.remove("dhcp", network_id)

    def ensure_router(self, spec: RouterSpec) -> None:
        """See ``NetworkDriver.ensure_router``."""
        validate.check_router(spec)
        with translated("ensure_router"), self._locks.hold(f"router-{spec.router_id}"):
            for port in (*spec.interfaces, *filter(None, [spec.gateway])):
                self._require_network(port.network_id)
            self.records.write("routers", spec.router_id, spec)
            router.ensure(spec)

    def delete_router(self, router_id: str) -> None:
        """See ``NetworkDriver.delete_router``."""
        validate.check_id(router_id, "router id")
        with translated("delete_router"), self._locks.hold(f"router-{router_id}"):
            router.delete(router_id)
            self.records.remove("routers", router_id)

    def ensure_port_filter(self, spec: PortFilter) -> None:
        """See ``NetworkDriver.ensure_port_filter``."""
        validate.check_filter(spec)
        with translated("ensure_port_filter"), self._locks.hold(f"port-{spec.port_id}"):
            previous = self.records.read("filters", spec.port_id)
            self.records.write("filters", spec.port_id, spec)
            self._bridge_nf()
            try:
                self.tables.add_filter(spec, None if previous is None else filter_entry(previous))
            except BaseException:
                if f"inet {ingress_chain(spec.port_id)}" not in self.tables.chains():
                    self.records.remove("filters", spec.port_id)
                raise

    def remove_port_filter(self, port_id: str) -> None:
        """See ``NetworkDriver.remove_port_filter``."""
        validate.check_id(port_id, "port id")
        with translated("remove_port_filter"), self._locks.hold(f"port-{port_id}"):
            record = self.records.read("filters", port_id)
            self.tables.remove_filter(port_id, None if record is None else filter_entry(record))
            self.records.remove("filters", port_id)
            self.tables.drop_unused_sets(lambda: self.records.ids("groups"))
            self._drop_tables_if_idle()

    def set_group_members(self, group_id: str, addresses: tuple[str, ...]) -> None:
        """See ``NetworkDriver.set_group_members``."""
        validate.check_members(group_id, addresses)
        with translated("set_group_members"), self._locks.hold(f"group-{group_id}"):
            self.records.write("groups", group_id, {"addresses": list(addresses)})
            self.tables.set_members(group_id, addresses)

    def delete_group(self, group_id: str) -> None:
        """See ``NetworkDriver.delete_group``."""
        validate.check_id(group_id, "group id")
        with translated("delete_group"), self._locks.hold(f"group-{group_id}"):
            self.records.remove("groups", group_id)
            self.tables.drop_unused_sets(lambda: self.records.ids("groups"))
            self._drop_tables_if_idle()

    def bridges(self) -> frozenset[str]:
        """See ``NetworkDriver.bridges``: from sysfs, the links that are bridges."""
        with translated("bridges"):
            return frozenset(
                name
                for name in devices.host_names()
                if name.startswith(BRIDGE_PREFIX) and os.path.isdir(f"/sys/class/net/{name}/bridge")
            )

    def state(self) -> DataPlaneState:
        """See ``NetworkDriver.state``: recorded ids whose devices, namespaces, dnsmasq or
        nftables objects exist on the host right now."""
        with translated("state"):
            links = devices.host_names()
            namespaces, chains, sets = netns.names(), self.tables.chains(), self.tables.sets()
            zoned = self.tables.zoned_bridges()
            ids = self.records.ids
            return DataPlaneState(
                networks=frozenset(
                    n for n in ids("networks") if self._network_ok(n, links, zoned, chains)
                ),
                dhcp=frozenset(
                    n
                    for n in ids("dhcp")
                    if dhcp.running(n, self._files(n), self.metadata is not None)
                ),
                routers=frozenset(r for r in ids("routers") if router_namespace(r) in namespaces),
                port_filters=frozenset(
                    p for p in ids("filters") if f"inet {ingress_chain(p)}" in chains
                ),
                groups=frozenset(g for g in ids("groups") if group_set(g, 4) in sets),
            )

    def recorded(self) -> DataPlaneState:
        """Every id this driver holds a record of, whether or not its devices are whole:
        what removing everything must go through (``state`` lists only complete ones)."""
        ids = self.records.ids
        return DataPlaneState(
            networks=frozenset(ids("networks")),
            dhcp=frozenset(ids("dhcp")),
            routers=frozenset(ids("routers")),
            port_filters=frozenset(ids("filters")),
            groups=frozenset(ids("groups")),
        )

    def _network_ok(
        self, network_id: str, links: set[str], zoned: set[str], chains: set[str]
    ) -> bool:
        """Its bridge exists and the tables hold its zone (tenant) or isolation (external)."""
        record = self.records.read("networks", network_id)
        bridge = bridge_name(network_id)
        if record is None or bridge not in links:
            return False
        entry = network_entry(record)
        isolation = f"inet {isolation_chain(network_id)}"
        return (entry.zone is None or bridge in zoned) and (
            not entry.isolated or isolation in chains
        )
