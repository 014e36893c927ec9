"""Subnets: list, show, create, update, delete. A subnet with DHCP gets an address on the
network's DHCP port (created with the first such subnet); changes run workflows."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext, current
from api.network import bp, faults, views
from api.network.access import find_network, find_subnet, require_owner, subnet_scope
from api.network.allocate import IpRequest, add_port, choose_ips
from api.network.bulk import bulk
from api.network.common import (
    bool_field,
    fields,
    filtered,
    listing,
    realise,
    spec_of,
    target_project,
    text_field,
    transaction,
)
from api.policy import authorize
from api.validation import require_str
from nimbus import ipam
from nimbus.db_network import OWNER_DHCP, IPAllocation, Network, Port, Subnet, delete_port_rows
from nimbus.errors import Conflict, InvalidSpec
from nimbus.quota import Claim
from workflows import net_starter

_FILTERS = {
    "id": Subnet.id,
    "name": Subnet.name,
    "description": Subnet.description,
    "network_id": Subnet.network_id,
    "cidr": Subnet.cidr,
    "gateway_ip": Subnet.gateway_ip,
    "ip_version": Subnet.ip_version,
    "enable_dhcp": Subnet.enable_dhcp,
    "project_id": Subnet.project_id,
    "tenant_id": Subnet.project_id,
}

_UPDATABLE = {"name", "description", "dns_nameservers", "host_routes"}


def show(subnet_id: str, ctx: RequestContext) -> dict[str, Any]:
    with deps.db().session() as s:
        return views.subnet(find_subnet(s, subnet_id, ctx))


@bp.get("/v2.0/subnets")
def list_subnets() -> Response:
    ctx = current()
    authorize(ctx, "network:subnets:list")
    query = filtered(select(Subnet).where(subnet_scope(ctx)), _FILTERS)
    with deps.db().session() as s:
        rows = s.scalars(query.order_by(Subnet.created_at, Subnet.id)).all()
    return listing("subnets", [views.subnet(sn) for sn in rows])


@bp.get("/v2.0/subnets/<subnet_id>")
def show_subnet(subnet_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:subnets:show")
    return jsonify({"subnet": fields(show(subnet_id, ctx))})


def _check_version(spec: dict[str, Any]) -> None:
    version = spec.get("ip_version", 4)
    if str(version) == "6":
        raise faults.NotSupported("IPv6 subnets are not supported.")
    if str(version) != "4":
        raise InvalidSpec(f"Invalid input for ip_version: '{version}' is not 4 or 6.")
    if spec.get("subnetpool_id") or spec.get("use_default_subnet_pool"):
        raise faults.NotSupported("Subnet pools are not supported: give a cidr.")
    if spec.get("segment_id") or spec.get("ipv6_ra_mode") or spec.get("ipv6_address_mode"):
        raise faults.NotSupported("Segments and IPv6 modes are not supported.")
    if spec.get("cidr") is None:
        raise InvalidSpec("Invalid input for cidr: a cidr is required.")


def _layout(spec: dict[str, Any]) -> dict[str, Any]:
    """The subnet's validated addressing, as row values."""
    _check_version(spec)
    gateway = spec.get("gateway_ip", "default")
    layout = ipam.plan_subnet(spec["cidr"], gateway, spec.get("allocation_pools") or None)
    return {
        "cidr": str(layout.cidr),
        "gateway_ip": str(layout.gateway) if layout.gateway else None,
        "allocation_pools": [p.as_dict() for p in layout.pools],
        "dns_nameservers": ipam.parse_nameservers(spec.get("dns_nameservers") or []),
        "host_routes": ipam.parse_host_routes(spec.get("host_routes") or [], layout.cidr),
    }


def _check_overlap(s: Session, network_id: str, cidr: str) -> None:
    others = s.execute(select(Subnet.id, Subnet.cidr).where(Subnet.network_id == network_id))
    clash = ipam.overlapping(ipam.parse_cidr(cidr), [(i, c) for i, c in others])
    if clash is not None:
        raise faults.InvalidInput(
            f"Requested subnet with cidr: {cidr} for network: {network_id} overlaps with"
            f" another subnet ({clash})."
        )


def _dhcp_address(s: Session, network: Network, subnet: Subnet) -> tuple[str, bool]:
    """Give the network's DHCP port an address in ``subnet`` (creating the port if the
    network has none); returns the port's id and whether it was created."""
    port = s.scalars(
        select(Port).where(Port.network_id == network.id, Port.device_owner == OWNER_DHCP)
    ).first()
    request = [IpRequest(subnet_id=subnet.id)]
    if port is None:
        port = add_port(
            s,
            network,
            network.project_id,
            request,
            device_owner=OWNER_DHCP,
            device_id=f"dhcp-{network.id}",
            port_security_enabled=False,
        )
        return port.id, True
    for subnet_id, ip in choose_ips(s, network.id, request):
        s.add(
            IPAllocation(port_id=port.id, subnet_id=subnet_id, network_id=network.id, ip_address=ip)
        )
    return port.id, False


def _undo_subnet(subnet_id: str) -> None:
    """Delete a subnet a failed bulk create made."""
    delete_subnet(subnet_id)


@bp.post("/v2.0/subnets")
@bulk("subnet", "subnets", _undo_subnet)
def create_subnet() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "network:subnets:create")
    spec = spec_of("subnet")
    network_id = require_str(spec, "network_id", "network_id")
    values = {
        **_layout(spec),
        "project_id": target_project(spec, ctx),
        "network_id": network_id,
        "name": text_field(spec, "name"),
        "description": text_field(spec, "description"),
        "enable_dhcp": bool_field(spec, "enable_dhcp", True),
    }

    def insert(s: Session) -> tuple[Subnet, str | None, bool]:
        network = find_network(s, network_id, ctx)
        require_owner(network.project_id, ctx, f"network {network_id}")
        if network.status == "DELETING":
            raise Conflict(f"Network {network_id} is being deleted.")
        _check_overlap(s, network_id, values["cidr"])
        subnet = Subnet(**values)
        s.add(subnet)
        s.flush()
        if not subnet.enable_dhcp:
            return subnet, None, False
        return subnet, *_dhcp_address(s, network, subnet)

    charge = Claim(values["project_id"], {"subnet": 1})
    subnet, dhcp_port, created = transaction(insert, charge=charge)
    realise(
        lambda c: net_starter.create_subnet(c, subnet.project_id, subnet.id),
        lambda: _forget(subnet.id, dhcp_port if created else None),
    )
    return jsonify({"subnet": show(subnet.id, ctx)}), 201


def _forget(subnet_id: str, created_port: str | None) -> None:
    with deps.db().session() as s:
        s.execute(delete(IPAllocation).where(IPAllocation.subnet_id == subnet_id))
        if created_port is not None:
            delete_port_rows(s, created_port)
        s.execute(delete(Subnet).where(Subnet.id == subnet_id))


@bp.put("/v2.0/subnets/<subnet_id>")
def update_subnet(subnet_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:subnets:update")
    spec = spec_of("subnet")
    unknown = set(spec) - _UPDATABLE
    if unknown:
        raise faults.NotSupported(f"Updating {', '.join(sorted(unknown))} is not supported.")
    with deps.db().session() as s:
        subnet = find_subnet(s, subnet_id, ctx)
        require_owner(subnet.project_id, ctx, f"subnet {subnet_id}")
        old = (list(subnet.dns_nameservers), list(subnet.host_routes))
        subnet.name = text_field(spec, "name", subnet.name)
        subnet.description = text_field(spec, "description", subnet.description)
        if "dns_nameservers" in spec:
            subnet.dns_nameservers = ipam.parse_nameservers(spec["dns_nameservers"] or [])
        if "host_routes" in spec:
            net = ipam.parse_cidr(subnet.cidr)
            subnet.host_routes = ipam.parse_host_routes(spec["host_routes"] or [], net)
        changed = old != (subnet.dns_nameservers, subnet.host_routes)
        project, network_id = subnet.project_id, subnet.network_id
    if changed:
        realise(
            lambda c: net_starter.sync_network(c, project, network_id),
            lambda: _restore(subnet_id, *old),
        )
    return jsonify({"subnet": show(subnet_id, ctx)})


def _restore(subnet_id: str, dns: list[str], routes: list[dict[str, str]]) -> None:
    with deps.db().session() as s:
        subnet = s.get(Subnet, subnet_id)
        if subnet is not None:
            subnet.dns_nameservers, subnet.host_routes = dns, routes


@bp.delete("/v2.0/subnets/<subnet_id>")
def delete_subnet(subnet_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "network:subnets:delete")
    with deps.db().session() as s:
        subnet = find_subnet(s, subnet_id, ctx)
        require_owner(subnet.project_id, ctx, f"subnet {subnet_id}")
        users = s.scalars(
            select(Port.id)
            .join(IPAllocation, IPAllocation.port_id == Port.id)
            .where(IPAllocation.subnet_id == subnet_id, Port.device_owner != OWNER_DHCP)
        ).first()
        if users is not None:
            raise faults.SubnetInUse(subnet_id)
        project = subnet.project_id
    deps.bridge().run(lambda c: net_starter.delete_subnet(c, project, subnet_id))
    return "", 204
