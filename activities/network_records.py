"""Database activities of the network workflows: the desired data plane, read from the rows.

Each ``*_plan`` activity turns the rows the API wrote into the whole spec of one object
and the host it lives on; the host activities then converge to it. Deleting activities
remove rows only after the workflow removed their devices, so that no device outlives
its row; all are idempotent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from temporalio import activity

from activities.network.base import (
    DhcpLease,
    DhcpSpec,
    DhcpSubnet,
    FloatingNat,
    HostRoute,
    NetworkSpec,
    PortFilter,
    RouterPort,
    RouterSpec,
    SecurityRule,
)
from activities.network_ops import GroupMembers, GroupRef, NetworkRef, PortRef, RouterRef
from activities.placement import live_host
from nimbus.db import Database, Host, utcnow
from nimbus.db_network import (
    NETWORK_OWNED,
    OWNER_DHCP,
    OWNER_ROUTER_INTERFACE,
    DhcpGeneration,
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    SecurityGroupRule,
    Subnet,
    delete_port_rows,
)
from nimbus.errors import NotFound
from nimbus.quota import bump
from nimbus.scheduler import is_up


@dataclass(frozen=True)
class NetworkPlan:
    host: str
    spec: NetworkSpec


@dataclass(frozen=True)
class NetworkOnHost:
    network_id: str
    host: str


@dataclass(frozen=True)
class DhcpPlan:
    host: str
    network_id: str
    spec: DhcpSpec | None = None


@dataclass(frozen=True)
class RouterPlan:
    host: str
    spec: RouterSpec
    networks: tuple[NetworkSpec, ...] = ()


@dataclass(frozen=True)
class PortPlan:
    """Where a port is bound and its filter; ``filter`` is None for an unfiltered port."""

    port_id: str
    network_id: str
    host: str | None = None
    filter: PortFilter | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupPlan:
    members: GroupMembers
    hosts: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostsResult:
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class StatusInput:
    resource_id: str
    status: str


@dataclass(frozen=True)
class PortsInput:
    port_ids: tuple[str, ...]


@dataclass(frozen=True)
class SubnetRef:
    subnet_id: str


@dataclass(frozen=True)
class RuleRef:
    rule_id: str


@dataclass(frozen=True)
class RoutersResult:
    router_ids: tuple[str, ...]


@dataclass(frozen=True)
class FloatingRef:
    fip_id: str


def _network(s: Session, network_id: str) -> Network:
    network = s.get(Network, network_id)
    if network is None:
        raise NotFound(f"network {network_id} not found")
    return network


def network_on(s: Session, network_id: str, host: str) -> NetworkPlan:
    """The network's bridge as ``host`` (a compute host) builds it."""
    return NetworkPlan(host, network_spec(s, _network(s, network_id), host))


def _placed(s: Session, network: Network) -> str:
    """The network node of ``network``: kept once chosen, so retries return to it."""
    network.host = network.host or live_host(s)
    return network.host


def network_spec(s: Session, network: Network, host: str | None = None) -> NetworkSpec:
    """The bridge of ``network`` as ``host`` (default: its network node) builds it: a
    tenant network's VXLAN floods to every other host's VTEP."""
    host_address = None
    if network.external:
        subnet = s.scalars(
            select(Subnet)
            .where(Subnet.network_id == network.id, Subnet.gateway_ip.is_not(None))
            .order_by(Subnet.created_at)
        ).first()
        if subnet is not None and subnet.gateway_ip:
            prefix = ipaddress.ip_network(subnet.cidr).prefixlen
            host_address = f"{subnet.gateway_ip}/{prefix}"
    vteps = {h.name: h.vtep_address for h in s.scalars(select(Host)) if h.vtep_address}
    here = host or network.host or ""
    return NetworkSpec(
        network_id=network.id,
        segment=network.segment,
        mtu=network.mtu,
        external=network.external,
        host_address=host_address,
        peers=() if network.external else _peers(vteps, here),
        local_ip=vteps.get(here, "127.0.0.1"),
    )


def _peers(vteps: dict[str, str], here: str) -> tuple[str, ...]:
    mine = vteps.get(here)
    return tuple(sorted({ip for name, ip in vteps.items() if name != here and ip != mine}))


def addresses_of(s: Session, port_id: str) -> list[tuple[str, Subnet]]:
    rows = s.execute(
        select(IPAllocation.ip_address, Subnet)
        .join(Subnet, Subnet.id == IPAllocation.subnet_id)
        .where(IPAllocation.port_id == port_id)
        .order_by(Subnet.created_at)
    ).all()
    return [(ip, subnet) for ip, subnet in rows]


def _cidr_address(ip: str, subnet: Subnet) -> str:
    return f"{ip}/{ipaddress.ip_network(subnet.cidr).prefixlen}"


def _hostname(port: Port, ip: str) -> str:
    return "host-" + ip.replace(".", "-").replace(":", "-")


def dhcp_spec(s: Session, network: Network) -> DhcpSpec | None:
    """The network's DHCP server, or None when no subnet wants one."""
    subnets = s.scalars(
        select(Subnet)
        .where(Subnet.network_id == network.id, Subnet.enable_dhcp.is_(True))
        .order_by(Subnet.created_at)
    ).all()
    port = s.scalars(
        select(Port).where(Port.network_id == network.id, Port.device_owner == OWNER_DHCP)
    ).first()
    if not subnets or port is None:
        return None
    served = {subnet.id for subnet in subnets}
    own = [(ip, sn) for ip, sn in addresses_of(s, port.id) if sn.id in served]
    if not own:
        return None
    leases = []
    ports = s.scalars(
        select(Port).where(Port.network_id == network.id, Port.id != port.id).order_by(Port.id)
    ).all()
    for other in ports:
        for ip, subnet in addresses_of(s, other.id):
            if subnet.id in served:
                leases.append(DhcpLease(other.mac_address, ip, _hostname(other, ip)))
    return DhcpSpec(
        network_id=network.id,
        port_id=port.id,
        mac=port.mac_address,
        addresses=tuple(_cidr_address(ip, sn) for ip, sn in own),
        subnets=tuple(_dhcp_subnet(sn) for sn in subnets),
        leases=tuple(leases),
        mtu=network.mtu,
    )


def _dhcp_subnet(subnet: Subnet) -> DhcpSubnet:
    routes = tuple(
        HostRoute(route["destination"], route["nexthop"]) for route in subnet.host_routes or []
    )
    return DhcpSubnet(
        subnet.id,
        subnet.cidr,
        subnet.gateway_ip,
        tuple(subnet.dns_nameservers),
        host_routes=routes,
    )


def _next_generation(s: Session, network_id: str) -> int:
    """Take the network's next DHCP plan number: a write made before the plan reads
    anything, so that what it then reads is at least as new as any earlier plan's."""
    bump(s, DhcpGeneration.network_id, network_id, DhcpGeneration.generation)
    return int(
        s.scalar(select(DhcpGeneration.generation).where(DhcpGeneration.network_id == network_id))
        or 0
    )


def dhcp_plan_of(s: Session, network_id: str) -> DhcpPlan:
    """``dhcp_plan`` of the network ``network_id``. Its number is taken before anything
    is read (``_next_generation``): what the plan reads is at least as new as any earlier
    plan's, whatever the transaction did before."""
    generation = _next_generation(s, network_id)
    network = _network(s, network_id)
    spec = dhcp_spec(s, network)
    spec = replace(spec, generation=generation) if spec else None
    return DhcpPlan(_placed(s, network), network.id, spec)


def _router_port(s: Session, port: Port) -> RouterPort | None:
    addresses = addresses_of(s, port.id)
    if not addresses:
        return None
    ip, subnet = addresses[0]
    return RouterPort(port.id, port.network_id, port.mac_address, _cidr_address(ip, subnet))


def router_spec(s: Session, router: Router) -> tuple[RouterSpec, tuple[NetworkSpec, ...]]:
    """The router's whole state, and the networks its ports need on its host."""
    ports = s.scalars(
        select(Port)
        .where(Port.device_id == router.id, Port.device_owner == OWNER_ROUTER_INTERFACE)
        .order_by(Port.created_at)
    ).all()
    interfaces = [rp for rp in (_router_port(s, p) for p in ports) if rp is not None]
    gateway, gateway_ip = None, None
    gw_port = s.get(Port, router.gw_port_id) if router.gw_port_id else None
    if gw_port is not None:
        gateway = _router_port(s, gw_port)
        addresses = addresses_of(s, gw_port.id)
        gateway_ip = addresses[0][1].gateway_ip if addresses else None
    floating: tuple[FloatingNat, ...] = ()
    if gateway is not None:
        rows = s.scalars(
            select(FloatingIP).where(
                FloatingIP.router_id == router.id, FloatingIP.fixed_ip_address.is_not(None)
            )
        ).all()
        floating = tuple(FloatingNat(f.floating_ip_address, f.fixed_ip_address or "") for f in rows)
    network_ids = {rp.network_id for rp in interfaces}
    if gateway is not None:
        network_ids.add(gateway.network_id)
    networks = tuple(network_spec(s, _network(s, nid), router.host) for nid in sorted(network_ids))
    spec = RouterSpec(
        router_id=router.id,
        interfaces=tuple(interfaces),
        gateway=gateway,
        gateway_ip=gateway_ip,
        snat=router.enable_snat,
        floating=floating,
    )
    return spec, networks


def _rules(s: Session, group_ids: list[str]) -> tuple[SecurityRule, ...]:
    if not group_ids:
        return ()
    rows = s.scalars(
        select(SecurityGroupRule)
        .where(SecurityGroupRule.security_group_id.in_(group_ids))
        .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)
    ).all()
    return tuple(
        SecurityRule(
            direction=r.direction,
            ethertype=r.ethertype,
            protocol=r.protocol,
            port_min=r.port_range_min,
            port_max=r.port_range_max,
            remote_cidr=r.remote_ip_prefix,
            remote_group=r.remote_group_id,
        )
        for r in rows
    )


def port_plan(s: Session, port: Port) -> PortPlan:
    """Where ``port`` is bound and the filter it needs there."""
    groups = tuple(port.security_group_ids or ())
    if port.binding_host is None or port.device_owner in NETWORK_OWNED or port.tag is None:
        return PortPlan(port.id, port.network_id, port.binding_host, None, groups)
    if port.binding_host not in _all_hosts(s):
        # Its host is down: nothing waits for it; its reconcile sets the filter on return.
        return PortPlan(port.id, port.network_id, None, None, groups)
    network = _network(s, port.network_id)
    spec = PortFilter(
        port_id=port.id,
        network_id=port.network_id,
        zone=network.segment,
        tag=port.tag,
        mac=port.mac_address,
        ips=tuple(ip for ip, _ in addresses_of(s, port.id)),
        rules=_rules(s, list(groups)),
        port_security=port.port_security_enabled,
    )
    return PortPlan(port.id, port.network_id, port.binding_host, spec, groups)


def port_plan_of(s: Session, port_id: str) -> PortPlan:
    """``port_plan`` of the port ``port_id``; ``NotFound`` if it is gone."""
    port = s.get(Port, port_id)
    if port is None:
        raise NotFound(f"port {port_id} not found")
    return port_plan(s, port)


def group_members(s: Session, group_id: str) -> GroupPlan:
    """The addresses of the group's ports, the hosts filtering ports, and its bound ports."""
    ports = [
        p
        for p in s.scalars(select(Port).where(Port.device_owner.not_in(NETWORK_OWNED))).all()
        if group_id in (p.security_group_ids or [])
    ]
    addresses = sorted({ip for p in ports for ip, _ in addresses_of(s, p.id)})
    hosts = _all_hosts(s)
    bound = tuple(sorted(p.id for p in ports if p.binding_host))
    return GroupPlan(GroupMembers(group_id, tuple(addresses)), hosts, bound)


def _all_hosts(s: Session) -> tuple[str, ...]:
    """The hosts that are up: a step fanned out to every host must not wait for one that
    is down, which gets everything again from its own reconcile when it comes back."""
    now = utcnow()
    return tuple(
        sorted(h.name for h in s.scalars(select(Host)) if is_up(h.heartbeat_at, h.forced_down, now))
    )


class NetworkRecords:
    """Activities that read networking rows into specs, and update or delete rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def network_plan(self, inp: NetworkRef) -> NetworkPlan:
        """The network's bridge and its network node (chosen now if not yet)."""
        with self.db.session() as s:
            network = _network(s, inp.network_id)
            host = _placed(s, network)
            return NetworkPlan(host, network_spec(s, network, host))

    @activity.defn
    def network_on_host(self, inp: NetworkOnHost) -> NetworkPlan:
        """The network's bridge as another host (a compute host) builds it."""
        with self.db.session() as s:
            return network_on(s, inp.network_id, inp.host)

    @activity.defn
    def dhcp_plan(self, inp: NetworkRef) -> DhcpPlan:
        """The network's DHCP server as its rows say (``spec`` None: there should be none),
        numbered after every earlier plan (see ``DhcpGeneration``)."""
        with self.db.session() as s:
            return dhcp_plan_of(s, inp.network_id)

    @activity.defn
    def hosts(self, inp: NetworkRef) -> HostsResult:
        """Every known host: where a network's devices may exist."""
        with self.db.session() as s:
            return HostsResult(_all_hosts(s))

    @activity.defn
    def set_network_status(self, inp: StatusInput) -> None:
        with self.db.session() as s:
            network = s.get(Network, inp.resource_id)
            if network is not None and network.status != "DELETING":
                network.status = inp.status

    @activity.defn
    def delete_network_rows(self, inp: NetworkRef) -> None:
        """Remove the network with its subnets, addresses and network-owned ports."""
        with self.db.session() as s:
            s.execute(delete(IPAllocation).where(IPAllocation.network_id == inp.network_id))
            s.execute(delete(Port).where(Port.network_id == inp.network_id))
            s.execute(delete(Subnet).where(Subnet.network_id == inp.network_id))
            s.execute(delete(Network).where(Network.id == inp.network_id))

    @activity.defn
    def subnet_network(self, inp: SubnetRef) -> NetworkRef:
        """The network a subnet belongs to; ``NotFound`` once the subnet is gone."""
        with self.db.session() as s:
            subnet = s.get(Subnet, inp.subnet_id)
            if subnet is None:
                raise NotFound(f"subnet {inp.subnet_id} not found")
            return NetworkRef(subnet.network_id)

    @activity.defn
    def mark_subnet_ready(self, inp: SubnetRef) -> None:
        with self.db.session() as s:
            subnet = s.get(Subnet, inp.subnet_id)
            if subnet is not None:
                subnet.ready = True

    @activity.defn
    def delete_subnet_rows(self, inp: SubnetRef) -> None:
        """Remove the subnet and its addresses, and DHCP ports left without any."""
        with self.db.session() as s:
            subnet = s.get(Subnet, inp.subnet_id)
            if subnet is None:
                return
            s.execute(delete(IPAllocation).where(IPAllocation.subnet_id == subnet.id))
            s.delete(subnet)
            s.flush()
            _drop_empty_dhcp_ports(s, subnet.network_id)

    @activity.defn
    def port_plan(self, inp: PortRef) -> PortPlan:
        """Where the port is bound and its filter; ``NotFound`` if it is gone."""
        with self.db.session() as s:
            return port_plan_of(s, inp.port_id)

    @activity.defn
    def delete_ports(self, inp: PortsInput) -> None:
        """Remove ports and their addresses; missing ports are fine."""
        with self.db.session() as s:
            for port_id in inp.port_ids:
                delete_port_rows(s, port_id)

    @activity.defn
    def mark_ports_plumbed(self, inp: PortsInput) -> None:
        """Mark ports ACTIVE once their devices are plumbed (a DHCP port, a router's
        interfaces and gateway), as Neutron's agents do; missing ports are fine."""
        with self.db.session() as s:
            for port_id in inp.port_ids:
                port = s.get(Port, port_id)
                if port is not None:
                    port.status = "ACTIVE"

    @activity.defn
    def unclaim_port(self, inp: PortRef) -> None:
        """Give a port claimed for a router back to its owner (a failed add-interface)."""
        with self.db.session() as s:
            port = s.get(Port, inp.port_id)
            if port is not None:
                port.device_id, port.device_owner = "", ""

    @activity.defn
    def group_plan(self, inp: GroupRef) -> GroupPlan:
        """A security group's member addresses, the hosts to set them on and its ports."""
        with self.db.session() as s:
            return group_members(s, inp.group_id)

    @activity.defn
    def delete_rule_row(self, inp: RuleRef) -> None:
        with self.db.session() as s:
            s.execute(delete(SecurityGroupRule).where(SecurityGroupRule.id == inp.rule_id))

    @activity.defn
    def router_plan(self, inp: RouterRef) -> RouterPlan:
        """The router's whole state and its host (chosen now if not yet)."""
        with self.db.session() as s:
            router = s.get(Router, inp.router_id)
            if router is None:
                raise NotFound(f"router {inp.router_id} not found")
            router.host = router.host or live_host(s)
            spec, networks = router_spec(s, router)
            return RouterPlan(router.host, spec, networks)

    @activity.defn
    def set_router_status(self, inp: StatusInput) -> None:
        with self.db.session() as s:
            router = s.get(Router, inp.resource_id)
            if router is not None:
                router.status = inp.status

    @activity.defn
    def delete_router_rows(self, inp: RouterRef) -> None:
        """Remove the router and the gateway port it holds."""
        with self.db.session() as s:
            router = s.get(Router, inp.router_id)
            if router is None:
                return
            if router.gw_port_id:
                delete_port_rows(s, router.gw_port_id)
            s.delete(router)

    @activity.defn
    def set_floatingip_status(self, inp: StatusInput) -> None:
        with self.db.session() as s:
            fip = s.get(FloatingIP, inp.resource_id)
            if fip is not None:
                fip.status = inp.status

    @activity.defn
    def mark_floatingip(self, inp: FloatingRef) -> None:
        """ACTIVE once associated through a router (the router was just synced), else DOWN."""
        with self.db.session() as s:
            fip = s.get(FloatingIP, inp.fip_id)
            if fip is not None:
                fip.status = "ACTIVE" if fip.router_id and fip.fixed_ip_address else "DOWN"

    @activity.defn
    def disassociate_floatingips(self, inp: PortRef) -> RoutersResult:
        """Detach every floating IP from the port (being deleted); the routers to resync."""
        with self.db.session() as s:
            rows = s.scalars(select(FloatingIP).where(FloatingIP.port_id == inp.port_id)).all()
            routers = {f.router_id for f in rows if f.router_id}
            for fip in rows:
                fip.port_id = fip.fixed_ip_address = fip.router_id = None
                fip.status = "DOWN"
            return RoutersResult(tuple(sorted(routers)))

    @activity.defn
    def release_floatingip(self, inp: FloatingRef) -> RoutersResult:
        """Detach a floating IP that is being deleted; the router to resync."""
        with self.db.session() as s:
            fip = s.get(FloatingIP, inp.fip_id)
            if fip is None or fip.router_id is None:
                return RoutersResult(())
            router = fip.router_id
            fip.port_id = fip.fixed_ip_address = fip.router_id = None
            return RoutersResult((router,))

    @activity.defn
    def delete_floatingip_rows(self, inp: FloatingRef) -> None:
        """Remove the floating IP and its port on the external network."""
        with self.db.session() as s:
            fip = s.get(FloatingIP, inp.fip_id)
            if fip is None:
                return
            delete_port_rows(s, fip.floating_port_id)
            s.delete(fip)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of this class, for a worker to register."""
        return [
            self.network_plan,
            self.network_on_host,
            self.dhcp_plan,
            self.hosts,
            self.set_network_status,
            self.delete_network_rows,
            self.subnet_network,
            self.mark_subnet_ready,
            self.delete_subnet_rows,
            self.port_plan,
            self.delete_ports,
            self.mark_ports_plumbed,
            self.unclaim_port,
            self.group_plan,
            self.delete_rule_row,
            self.router_plan,
            self.set_router_status,
            self.delete_router_rows,
            self.set_floatingip_status,
            self.mark_floatingip,
            self.disassociate_floatingips,
            self.release_floatingip,
            self.delete_floatingip_rows,
        ]


def _drop_empty_dhcp_ports(s: Session, network_id: str) -> None:
    ports = s.scalars(
        select(Port).where(Port.network_id == network_id, Port.device_owner == OWNER_DHCP)
    ).all()
    for port in ports:
        if not s.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)).first():
            s.delete(port)
