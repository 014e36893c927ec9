"""How networking resources look in Neutron's v2.0 responses.

The ``*_views`` functions take rows of one kind and read what they embed (subnet ids,
fixed IPs, rules) in one query for the whole batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import RequestContext
from api.network.common import is_admin
from api.timefmt import iso
from nimbus.db_network import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)


def _standard(row: Any) -> dict[str, Any]:
    """The attributes every Neutron resource carries."""
    return {
        "tenant_id": row.project_id,
        "project_id": row.project_id,
        "description": row.description,
        "tags": [],
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "revision_number": 0,
    }


def network(n: Network, subnet_ids: list[str], ctx: RequestContext) -> dict[str, Any]:
    return {
        "id": n.id,
        "name": n.name,
        "status": n.status,
        "admin_state_up": n.admin_state_up,
        "shared": n.shared,
        "router:external": n.external,
        "subnets": subnet_ids,
        "mtu": n.mtu,
        "availability_zones": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "port_security_enabled": True,
        "provider:network_type": "flat" if n.external else "vxlan",
        "provider:physical_network": None,
        "provider:segmentation_id": (None if n.external else n.segment) if is_admin(ctx) else None,
        **_standard(n),
    }


def network_views(s: Session, rows: Sequence[Network], ctx: RequestContext) -> list[dict[str, Any]]:
    ids = [n.id for n in rows]
    subnets: dict[str, list[str]] = defaultdict(list)
    query = select(Subnet.network_id, Subnet.id).where(Subnet.network_id.in_(ids))
    for network_id, subnet_id in s.execute(query.order_by(Subnet.created_at)):
        subnets[network_id].append(subnet_id)
    return [network(n, subnets[n.id], ctx) for n in rows]


def subnet(sn: Subnet) -> dict[str, Any]:
    return {
        "id": sn.id,
        "name": sn.name,
        "network_id": sn.network_id,
        "ip_version": sn.ip_version,
        "cidr": sn.cidr,
        "gateway_ip": sn.gateway_ip,
        "allocation_pools": list(sn.allocation_pools),
        "dns_nameservers": list(sn.dns_nameservers),
        "host_routes": list(sn.host_routes),
        "enable_dhcp": sn.enable_dhcp,
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "subnetpool_id": None,
        "segment_id": None,
        "service_types": [],
        **_standard(sn),
    }


def fixed_ips(s: Session, port_ids: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """Each port's ``[{subnet_id, ip_address}]``."""
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    query = select(IPAllocation).where(IPAllocation.port_id.in_(port_ids))
    for a in s.scalars(query.order_by(IPAllocation.ip_address)):
        found[a.port_id].append({"subnet_id": a.subnet_id, "ip_address": a.ip_address})
    return found


def port(p: Port, ips: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "network_id": p.network_id,
        "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up,
        "status": p.status,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": ips,
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": list(p.security_group_ids),
        "port_security_enabled": p.port_security_enabled,
        "binding:host_id": p.binding_host or "",
        "binding:vif_type": "bridge" if p.binding_host else "unbound",
        "binding:vnic_type": "normal",
        "binding:profile": {},
        "binding:vif_details": {},
        "dns_name": "",
        "dns_assignment": [],
        **_standard(p),
    }


def port_views(s: Session, rows: Sequence[Port]) -> list[dict[str, Any]]:
    ips = fixed_ips(s, [p.id for p in rows])
    return [port(p, ips[p.id]) for p in rows]


def router(r: Router, gateway_ips: list[dict[str, str]]) -> dict[str, Any]:
    gateway = None
    if r.external_network_id:
        gateway = {
            "network_id": r.external_network_id,
            "enable_snat": r.enable_snat,
            "external_fixed_ips": gateway_ips,
        }
    return {
        "id": r.id,
        "name": r.name,
        "status": r.status,
        "admin_state_up": r.admin_state_up,
        "external_gateway_info": gateway,
        "routes": [],
        "flavor_id": None,
        "availability_zones": [],
        "distributed": False,
        "ha": False,
        **_standard(r),
    }


def router_views(s: Session, rows: Sequence[Router]) -> list[dict[str, Any]]:
    ips = fixed_ips(s, [r.gw_port_id for r in rows if r.gw_port_id])
    return [router(r, ips[r.gw_port_id] if r.gw_port_id else []) for r in rows]


def floatingip(f: FloatingIP) -> dict[str, Any]:
    return {
        "id": f.id,
        "floating_ip_address": f.floating_ip_address,
        "floating_network_id": f.floating_network_id,
        "router_id": f.router_id,
        "port_id": f.port_id,
        "fixed_ip_address": f.fixed_ip_address,
        "status": f.status,
        "port_details": None,
        "dns_domain": "",
        "dns_name": "",
        **_standard(f),
    }


def rule(r: SecurityGroupRule) -> dict[str, Any]:
    return {
        "id": r.id,
        "security_group_id": r.security_group_id,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group_id": r.remote_group_id,
        **_standard(r),
    }


def group(g: SecurityGroup, rules: list[SecurityGroupRule]) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "stateful": g.stateful,
        "shared": False,
        "security_group_rules": [rule(r) for r in rules],
        **_standard(g),
    }


def group_views(s: Session, rows: Sequence[SecurityGroup]) -> list[dict[str, Any]]:
    rules: dict[str, list[SecurityGroupRule]] = defaultdict(list)
    query = select(SecurityGroupRule).where(
        SecurityGroupRule.security_group_id.in_([g.id for g in rows])
    )
    for r in s.scalars(query.order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)):
        rules[r.security_group_id].append(r)
    return [group(g, rules[g.id]) for g in rows]
