"""Floating IPs: list, show, create, update (associate, disassociate), delete. The address
is a ``network:floatingip`` port on the external network; a router joining the fixed IP's
subnet to that network NATs it. Changes run floating IP workflows."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext, current
from api.network import bp, faults, views
from api.network.access import find_floatingip, find_network, project_scope
from api.network.allocate import IpRequest, add_port
from api.network.common import (
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
from nimbus.db_network import (
    NETWORK_OWNED,
    OWNER_FLOATINGIP,
    OWNER_ROUTER_INTERFACE,
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    delete_port_rows,
)
from nimbus.errors import InvalidSpec
from nimbus.quota import Claim
from workflows import net_starter

_FILTERS = {
    "id": FloatingIP.id,
    "description": FloatingIP.description,
    "floating_ip_address": FloatingIP.floating_ip_address,
    "floating_network_id": FloatingIP.floating_network_id,
    "port_id": FloatingIP.port_id,
    "fixed_ip_address": FloatingIP.fixed_ip_address,
    "router_id": FloatingIP.router_id,
    "status": FloatingIP.status,
    "project_id": FloatingIP.project_id,
    "tenant_id": FloatingIP.project_id,
}
_ASSOCIATION = ("port_id", "fixed_ip_address", "router_id", "description")


def show(fip_id: str, ctx: RequestContext) -> dict[str, Any]:
    with deps.db().session() as s:
        return views.floatingip(find_floatingip(s, fip_id, ctx))


@bp.get("/v2.0/floatingips")
def list_floatingips() -> Response:
    ctx = current()
    authorize(ctx, "network:floatingips:list")
    query = filtered(select(FloatingIP).where(project_scope(FloatingIP, ctx)), _FILTERS)
    with deps.db().session() as s:
        rows = s.scalars(query.order_by(FloatingIP.created_at, FloatingIP.id)).all()
    return listing("floatingips", [views.floatingip(f) for f in rows])


@bp.get("/v2.0/floatingips/<fip_id>")
def show_floatingip(fip_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:floatingips:show")
    return jsonify({"floatingip": fields(show(fip_id, ctx))})


def _fixed_ip(s: Session, port: Port, wanted: Any) -> IPAllocation:
    """The port's address the floating IP should reach."""
    allocations = list(s.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)))
    if wanted is not None:
        for a in allocations:
            if a.ip_address == wanted:
                return a
        raise InvalidSpec(f"Port {port.id} does not have fixed ip {wanted}.")
    if not allocations:
        raise InvalidSpec(f"Port {port.id} has no fixed IP to associate a floating IP with.")
    if len(allocations) > 1:
        raise InvalidSpec(
            f"Port {port.id} has multiple fixed IPv4 addresses. Must provide a specific"
            " IPv4 address when assigning a floating IP."
        )
    return allocations[0]


def _router_for(s: Session, fip: FloatingIP, allocation: IPAllocation) -> str:
    """The router with a gateway on the floating IP's network and an interface on the
    fixed IP's subnet."""
    query = (
        select(Router.id)
        .join(Port, Port.device_id == Router.id)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(
            Router.external_network_id == fip.floating_network_id,
            Port.device_owner == OWNER_ROUTER_INTERFACE,
            IPAllocation.subnet_id == allocation.subnet_id,
        )
    )
    router_id = s.scalars(query).first()
    if router_id is None:
        raise faults.ExternalGatewayForFloatingIPNotFound(
            f"External network {fip.floating_network_id} is not reachable from subnet"
            f" {allocation.subnet_id}. Therefore, cannot associate Port {allocation.port_id}"
            " with a Floating IP."
        )
    return router_id


def associate(s: Session, fip: FloatingIP, port_id: Any, wanted: Any) -> None:
    """Point the floating IP at the port's fixed IP (the port must be the floating IP's
    project's, and reachable from its external network through a router)."""
    port = s.get(Port, port_id) if isinstance(port_id, str) else None
    if port is None or port.project_id != fip.project_id:
        raise faults.PortNotFound(str(port_id))
    if port.device_owner in NETWORK_OWNED:
        raise InvalidSpec(f"Port {port.id} is owned by {port.device_owner}: no floating IP.")
    allocation = _fixed_ip(s, port, wanted)
    router_id = _router_for(s, fip, allocation)
    taken = s.scalars(
        select(FloatingIP.floating_ip_address).where(
            FloatingIP.port_id == port.id,
            FloatingIP.fixed_ip_address == allocation.ip_address,
            FloatingIP.id != fip.id,
        )
    ).first()
    if taken is not None:
        raise faults.FloatingIPPortAlreadyAssociated(
            f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port"
            f" {port.id} using fixed IP {allocation.ip_address}, as that fixed IP already has"
            f" a floating IP ({taken})."
        )
    fip.port_id, fip.fixed_ip_address, fip.router_id = port.id, allocation.ip_address, router_id


def _address_request(spec: dict[str, Any], ctx: RequestContext) -> list[IpRequest] | None:
    address, subnet_id = spec.get("floating_ip_address"), spec.get("subnet_id")
    if address is not None:
        authorize(ctx, "network:floatingips:address")
        address = str(ipam.parse_ip(address, "floating_ip_address"))
    if address is None and subnet_id is None:
        return None
    return [IpRequest(subnet_id, address)]


def _take_address(
    s: Session, fip: FloatingIP, network: Network, requests: list[IpRequest] | None
) -> None:
    """Give the floating IP its address: a ``network:floatingip`` port holding it."""
    port = add_port(
        s,
        network,
        "",
        requests,
        device_owner=OWNER_FLOATINGIP,
        device_id=fip.id,
        port_security_enabled=False,
        security_group_ids=[],
    )
    address = s.scalars(select(IPAllocation.ip_address).where(IPAllocation.port_id == port.id))
    fip.floating_port_id, fip.floating_ip_address = port.id, address.first() or ""
    if not fip.floating_ip_address:
        raise InvalidSpec(f"External network {network.id} has no subnet.")


@bp.post("/v2.0/floatingips")
def create_floatingip() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "network:floatingips:create")
    spec = spec_of("floatingip")
    network_id = require_str(spec, "floating_network_id", "floating_network_id")
    project = target_project(spec, ctx)
    requests = _address_request(spec, ctx)

    def insert(s: Session) -> FloatingIP:
        network = find_network(s, network_id, ctx)
        if not network.external:
            raise InvalidSpec(f"Network {network_id} is not a valid external network.")
        fip = FloatingIP(
            id=str(uuid.uuid4()),
            project_id=project,
            description=text_field(spec, "description"),
            floating_network_id=network.id,
            status="DOWN",
        )
        _take_address(s, fip, network, requests)
        if spec.get("port_id") is not None:
            associate(s, fip, spec["port_id"], spec.get("fixed_ip_address"))
        s.add(fip)
        return fip

    fip = transaction(insert, charge=Claim(project, {"floatingip": 1}))
    routers = (fip.router_id,) if fip.router_id else ()
    realise(
        lambda c: net_starter.sync_floatingip(c, project, fip.id, routers=routers, created=True),
        lambda: _forget(fip.id, fip.floating_port_id),
    )
    return jsonify({"floatingip": show(fip.id, ctx)}), 201


def _forget(fip_id: str, port_id: str) -> None:
    with deps.db().session() as s:
        fip = s.get(FloatingIP, fip_id)
        if fip is not None:
            s.delete(fip)
        delete_port_rows(s, port_id)


@bp.put("/v2.0/floatingips/<fip_id>")
def update_floatingip(fip_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:floatingips:update")
    spec = spec_of("floatingip")
    unknown = set(spec) - {"port_id", "fixed_ip_address", "description"}
    if unknown:
        raise faults.NotSupported(f"Updating {', '.join(sorted(unknown))} is not supported.")

    def change(s: Session) -> tuple[dict[str, Any], tuple[str, ...]]:
        fip = find_floatingip(s, fip_id, ctx)
        saved = {key: getattr(fip, key) for key in _ASSOCIATION}
        fip.description = text_field(spec, "description", fip.description)
        if "port_id" not in spec:
            return saved, ()
        if spec["port_id"] is None:
            fip.port_id = fip.fixed_ip_address = fip.router_id = None
        else:
            associate(s, fip, spec["port_id"], spec.get("fixed_ip_address"))
        routers = (saved["router_id"], fip.router_id)
        return {**saved, "project_id": fip.project_id}, tuple(
            dict.fromkeys(r for r in routers if r)
        )

    saved, routers = transaction(change)
    if "port_id" in spec:
        realise(
            lambda c: net_starter.sync_floatingip(c, saved["project_id"], fip_id, routers=routers),
            lambda: _restore(fip_id, saved),
        )
    return jsonify({"floatingip": show(fip_id, ctx)})


def _restore(fip_id: str, saved: dict[str, Any]) -> None:
    with deps.db().session() as s:
        fip = s.get(FloatingIP, fip_id)
        if fip is not None:
            for key in _ASSOCIATION:
                setattr(fip, key, saved[key])


@bp.delete("/v2.0/floatingips/<fip_id>")
def delete_floatingip(fip_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "network:floatingips:delete")
    with deps.db().session() as s:
        project = find_floatingip(s, fip_id, ctx).project_id
    deps.bridge().run(lambda c: net_starter.delete_floatingip(c, project, fip_id))
    return "", 204
