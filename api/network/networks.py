"""Networks: list, show, create, update, delete. Changes run network workflows."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext, current
from api.network import bp, faults, views
from api.network.access import find_network, network_scope, require_owner
from api.network.allocate import free_number
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
from nimbus.db_network import OWNER_DHCP, Network, Port
from nimbus.errors import Conflict, InvalidSpec
from nimbus.quota import Claim
from workflows import net_starter

MAX_MTU = 1450

_FILTERS = {
    "id": Network.id,
    "name": Network.name,
    "description": Network.description,
    "status": Network.status,
    "shared": Network.shared,
    "router:external": Network.external,
    "admin_state_up": Network.admin_state_up,
    "mtu": Network.mtu,
    "project_id": Network.project_id,
    "tenant_id": Network.project_id,
}

_UPDATABLE = {"name", "description", "admin_state_up", "shared", "router:external", "mtu"}


def show(network_id: str, ctx: RequestContext) -> dict[str, Any]:
    """The network as the caller sees it (404 if it may not)."""
    with deps.db().session() as s:
        return views.network_views(s, [find_network(s, network_id, ctx)], ctx)[0]


@bp.get("/v2.0/networks")
def list_networks() -> Response:
    ctx = current()
    authorize(ctx, "network:networks:list")
    query = filtered(select(Network).where(network_scope(ctx)), _FILTERS)
    with deps.db().session() as s:
        rows = s.scalars(query.order_by(Network.created_at, Network.id)).all()
        return listing("networks", views.network_views(s, rows, ctx))


@bp.get("/v2.0/networks/<network_id>")
def show_network(network_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:networks:show")
    return jsonify({"network": fields(show(network_id, ctx))})


def _mtu(spec: dict[str, Any]) -> int:
    value = spec.get("mtu")
    if value is None:
        return MAX_MTU
    if not isinstance(value, int) or isinstance(value, bool) or not 68 <= value <= MAX_MTU:
        raise InvalidSpec(f"Invalid input for mtu: '{value}': must be from 68 to {MAX_MTU}.")
    return value


def _check_extras(spec: dict[str, Any], ctx: RequestContext) -> None:
    """Provider attributes (admin only) and port security, as far as Nimbus offers them."""
    provider = {k: v for k, v in spec.items() if k.startswith("provider:") and v is not None}
    if provider:
        authorize(ctx, "network:networks:provider")
    if provider.get("provider:network_type", "vxlan") not in ("vxlan", "flat"):
        raise faults.NotSupported("Only vxlan (and flat external) networks are supported.")
    if "provider:physical_network" in provider or "provider:segmentation_id" in provider:
        raise faults.NotSupported("Choosing a physical network or segment is not supported.")
    if not bool_field(spec, "port_security_enabled", True):
        raise faults.NotSupported("Disabling port security for a whole network is not supported.")


def _undo_network(network_id: str) -> None:
    """Delete a network a failed bulk create made."""
    delete_network(network_id)


@bp.post("/v2.0/networks")
@bulk("network", "networks", _undo_network)
def create_network() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "network:networks:create")
    spec = spec_of("network")
    shared, external = bool_field(spec, "shared", False), bool_field(spec, "router:external", False)
    if shared:
        authorize(ctx, "network:networks:shared")
    if external:
        authorize(ctx, "network:networks:external")
    _check_extras(spec, ctx)
    project = target_project(spec, ctx)
    values = {
        "project_id": project,
        "name": text_field(spec, "name"),
        "description": text_field(spec, "description"),
        "admin_state_up": bool_field(spec, "admin_state_up", True),
        "shared": shared,
        "external": external,
        "mtu": _mtu(spec),
        "status": "BUILD",
    }

    def insert(s: Session) -> Network:
        network = Network(segment=free_number(s, Network.segment), **values)
        s.add(network)
        return network

    network = transaction(insert, charge=Claim(project, {"network": 1}))
    realise(
        lambda c: net_starter.create_network(c, network.project_id, network.id),
        lambda: _forget(network.id),
    )
    return jsonify({"network": show(network.id, ctx)}), 201


def _forget(network_id: str) -> None:
    with deps.db().session() as s:
        network = s.get(Network, network_id)
        if network is not None:
            s.delete(network)


def _non_dhcp_ports(s: Session, network_id: str) -> list[Port]:
    query = select(Port).where(Port.network_id == network_id, Port.device_owner != OWNER_DHCP)
    return list(s.scalars(query))


def _check_flags(s: Session, network: Network, spec: dict[str, Any], ctx: RequestContext) -> bool:
    """Check changes of ``shared``/``router:external``; True if the bridge must change."""
    shared = bool_field(spec, "shared", network.shared)
    external = bool_field(spec, "router:external", network.external)
    if shared != network.shared:
        authorize(ctx, "network:networks:shared")
        others = [p for p in _non_dhcp_ports(s, network.id) if p.project_id != network.project_id]
        if not shared and others:
            raise Conflict(
                f"Unable to reconfigure sharing settings for network {network.id}."
                " Multiple tenants are using it."
            )
    if external != network.external:
        authorize(ctx, "network:networks:external")
        if _non_dhcp_ports(s, network.id):
            raise faults.NetworkInUse(network.id)
    return external != network.external


@bp.put("/v2.0/networks/<network_id>")
def update_network(network_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:networks:update")
    spec = spec_of("network")
    unknown = set(spec) - _UPDATABLE
    if unknown:
        raise InvalidSpec(f"Cannot update read-only attribute {', '.join(sorted(unknown))}")
    with deps.db().session() as s:
        network = find_network(s, network_id, ctx)
        require_owner(network.project_id, ctx, f"network {network_id}")
        old = {k: getattr(network, k) for k in ("admin_state_up", "shared", "external", "mtu")}
        resync = _check_flags(s, network, spec, ctx) or (
            bool_field(spec, "admin_state_up", network.admin_state_up) != network.admin_state_up
            or ("mtu" in spec and _mtu(spec) != network.mtu)
        )
        network.name = text_field(spec, "name", network.name)
        network.description = text_field(spec, "description", network.description)
        network.admin_state_up = bool_field(spec, "admin_state_up", network.admin_state_up)
        network.shared = bool_field(spec, "shared", network.shared)
        network.external = bool_field(spec, "router:external", network.external)
        network.mtu = _mtu(spec) if "mtu" in spec else network.mtu
        project = network.project_id
    if resync:
        realise(
            lambda c: net_starter.sync_network(c, project, network_id),
            lambda: _restore(network_id, old),
        )
    return jsonify({"network": show(network_id, ctx)})


def _restore(network_id: str, values: dict[str, Any]) -> None:
    with deps.db().session() as s:
        s.execute(update(Network).where(Network.id == network_id).values(**values))


@bp.delete("/v2.0/networks/<network_id>")
def delete_network(network_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "network:networks:delete")
    with deps.db().session() as s:
        network = find_network(s, network_id, ctx)
        require_owner(network.project_id, ctx, f"network {network_id}")
        if _non_dhcp_ports(s, network_id):
            raise faults.NetworkInUse(network_id)
        if network.status == "DELETING":
            raise Conflict(f"Network {network_id} is already being deleted.")
        status, project, network.status = network.status, network.project_id, "DELETING"
    realise(
        lambda c: net_starter.delete_network(c, project, network_id),
        lambda: _restore(network_id, {"status": status}),
    )
    return "", 204
