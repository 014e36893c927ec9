"""Adding and removing router interfaces: a subnet's gateway address on a new port, or a
port the caller made, becomes the router's; removing gives it back to be deleted."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext, current
from api.network import bp, faults
from api.network.access import find_router, find_subnet
from api.network.allocate import IpRequest, add_port
from api.network.common import is_admin, realise, transaction
from api.network.routers import interfaces
from api.policy import authorize
from api.validation import json_body
from nimbus import ipam
from nimbus.db_network import (
    OWNER_ROUTER_INTERFACE,
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    Subnet,
    delete_port_rows,
)
from nimbus.errors import Conflict, InvalidSpec
from workflows import net_starter


def _target(body: dict[str, Any]) -> tuple[str | None, str | None]:
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if subnet_id is None and port_id is None:
        raise InvalidSpec("Either subnet_id or port_id must be specified.")
    if not all(isinstance(x, str | None) for x in (subnet_id, port_id)):
        raise InvalidSpec("subnet_id and port_id must be strings.")
    return subnet_id, port_id


def _info(router: Router, port: Port, subnet_ids: list[str]) -> dict[str, Any]:
    """Neutron's answer to an interface change."""
    return {
        "id": router.id,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": port.id,
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
        "network_id": port.network_id,
    }


def _subnets_of(s: Session, port_id: str) -> list[str]:
    query = select(IPAllocation.subnet_id).where(IPAllocation.port_id == port_id)
    return list(s.scalars(query.order_by(IPAllocation.ip_address)))


def _check_attachable(s: Session, router: Router, subnet: Subnet) -> None:
    """The subnet is internal, on no router yet, and overlaps none of this router's."""
    network = s.get(Network, subnet.network_id)
    if network is None or network.external:
        raise InvalidSpec(
            f"Subnet {subnet.id} is on an external network: make it the router's gateway."
        )
    attached = s.scalars(
        select(Port.device_id)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(IPAllocation.subnet_id == subnet.id, Port.device_owner == OWNER_ROUTER_INTERFACE)
    ).first()
    if attached is not None:
        raise Conflict(f"Subnet {subnet.id} is already attached to router {attached}.")
    own = [sid for port in interfaces(s, router.id) for sid in _subnets_of(s, port.id)]
    cidrs = s.execute(select(Subnet.id, Subnet.cidr).where(Subnet.id.in_(own))).all()
    clash = ipam.overlapping(ipam.parse_cidr(subnet.cidr), [(i, c) for i, c in cidrs])
    if clash is not None:
        raise faults.InvalidInput(
            f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr of subnet {clash}"
            f" on router {router.id}."
        )


def _port_for_subnet(s: Session, router: Router, subnet_id: str, ctx: RequestContext) -> Port:
    subnet = find_subnet(s, subnet_id, ctx)
    if subnet.gateway_ip is None:
        raise InvalidSpec(f"Subnet {subnet_id} has no gateway IP for the router to take.")
    _check_attachable(s, router, subnet)
    network = s.get(Network, subnet.network_id)
    assert network is not None
    return add_port(
        s,
        network,
        router.project_id,
        [IpRequest(subnet.id, subnet.gateway_ip)],
        device_owner=OWNER_ROUTER_INTERFACE,
        device_id=router.id,
        port_security_enabled=False,
        security_group_ids=[],
    )


def _claim_port(s: Session, router: Router, port_id: str, ctx: RequestContext) -> Port:
    port = s.get(Port, port_id)
    if port is None or (port.project_id != ctx.project_id and not is_admin(ctx)):
        raise faults.PortNotFound(port_id)
    if port.device_id or port.device_owner:
        raise faults.PortInUse(f"Port {port_id} is in use by {port.device_owner or 'a device'}.")
    subnet_ids = _subnets_of(s, port_id)
    if len(subnet_ids) != 1:
        raise InvalidSpec(f"Port {port_id} must have exactly one fixed IP to join a router.")
    subnet = s.get(Subnet, subnet_ids[0])
    assert subnet is not None
    _check_attachable(s, router, subnet)
    port.device_owner, port.device_id = OWNER_ROUTER_INTERFACE, router.id
    return port


@bp.put("/v2.0/routers/<router_id>/add_router_interface")
def add_interface(router_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:routers:update")
    subnet_id, port_id = _target(json_body())
    if subnet_id is not None and port_id is not None:
        raise InvalidSpec("Cannot specify both subnet-id and port-id.")

    def change(s: Session) -> tuple[dict[str, Any], str, bool]:
        router = find_router(s, router_id, ctx)
        if router.status == "DELETING":
            raise Conflict(f"Router {router_id} is being deleted.")
        if subnet_id is not None:
            port, created = _port_for_subnet(s, router, subnet_id, ctx), True
        else:
            port, created = _claim_port(s, router, str(port_id), ctx), False
        return _info(router, port, _subnets_of(s, port.id)), port.id, created

    info, port, created = transaction(change)
    realise(
        lambda c: net_starter.update_router(
            c, info["project_id"], router_id, added_port=port, added_port_created=created
        ),
        lambda: _undo_add(port, created),
    )
    return jsonify(info)


def _undo_add(port_id: str, created: bool) -> None:
    with deps.db().session() as s:
        if created:
            delete_port_rows(s, port_id)
            return
        port = s.get(Port, port_id)
        if port is not None:
            port.device_owner = port.device_id = ""


def _interface(s: Session, router: Router, subnet_id: str | None, port_id: str | None) -> Port:
    """The router's interface named by port or subnet (404 if it has none such)."""
    for port in interfaces(s, router.id):
        on_subnet = subnet_id is None or subnet_id in _subnets_of(s, port.id)
        if (port_id is None or port.id == port_id) and on_subnet:
            return port
    if port_id is not None:
        raise faults.RouterInterfaceNotFound(
            f"Router {router.id} does not have an interface with id {port_id}"
        )
    raise faults.RouterInterfaceNotFound(
        f"Router {router.id} has no interface on subnet {subnet_id}"
    )


def _check_no_floating(s: Session, router: Router, port: Port) -> None:
    """Refuse if a floating IP reaches a fixed IP on the interface's subnets."""
    subnets = _subnets_of(s, port.id)
    for fip in s.scalars(select(FloatingIP).where(FloatingIP.router_id == router.id)):
        behind = s.scalars(
            select(IPAllocation.subnet_id).where(
                IPAllocation.port_id == fip.port_id,
                IPAllocation.ip_address == fip.fixed_ip_address,
            )
        ).first()
        if behind in subnets:
            raise faults.RouterInterfaceInUseByFloatingIP(
                f"Router interface for subnet {behind} on router {router.id} cannot be deleted,"
                f" as it is required by one or more floating IPs."
            )


@bp.put("/v2.0/routers/<router_id>/remove_router_interface")
def remove_interface(router_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:routers:update")
    subnet_id, port_id = _target(json_body())

    def change(s: Session) -> tuple[dict[str, Any], str]:
        router = find_router(s, router_id, ctx)
        port = _interface(s, router, subnet_id, port_id)
        _check_no_floating(s, router, port)
        port.device_id = ""
        return _info(router, port, _subnets_of(s, port.id)), port.id

    info, port = transaction(change)
    realise(
        lambda c: net_starter.update_router(
            c, info["project_id"], router_id, release_ports=(port,)
        ),
        lambda: _reclaim(port, router_id),
    )
    return jsonify(info)


def _reclaim(port_id: str, router_id: str) -> None:
    with deps.db().session() as s:
        port = s.get(Port, port_id)
        if port is not None:
            port.device_id = router_id
