"""Ports: list, show, create, update, delete. Addresses are chosen here (IPAM) inside the
request's transaction; the port's workflow then realises its DHCP lease and filter."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext, current
from api.errors import Forbidden
from api.network import bp, faults, views
from api.network.access import find_network, find_port, port_scope, require_owner
from api.network.allocate import add_port, parse_fixed_ips, parse_mac
from api.network.bulk import bulk
from api.network.common import (
    bool_field,
    fields,
    filtered,
    is_admin,
    listing,
    realise,
    spec_of,
    target_project,
    text_field,
    transaction,
)
from api.network.port_fields import (
    apply_update,
    check_owner_field,
    check_unsupported,
    restore,
    security_groups,
    snapshot,
)
from api.network.security_groups import ensure_default
from api.policy import authorize
from api.validation import require_str
from nimbus.db_network import (
    OWNER_DHCP,
    OWNER_FLOATINGIP,
    OWNER_ROUTER_GATEWAY,
    OWNER_ROUTER_INTERFACE,
    IPAllocation,
    Port,
    delete_port_rows,
)
from nimbus.errors import Conflict
from nimbus.quota import Claim
from workflows import net_starter

_FILTERS = {
    "id": Port.id,
    "name": Port.name,
    "description": Port.description,
    "network_id": Port.network_id,
    "device_id": Port.device_id,
    "device_owner": Port.device_owner,
    "mac_address": Port.mac_address,
    "status": Port.status,
    "admin_state_up": Port.admin_state_up,
    "binding:host_id": Port.binding_host,
    "project_id": Port.project_id,
    "tenant_id": Port.project_id,
}

#: Owners whose ports only their own API (routers, floating IPs) may delete.
_HELD = (OWNER_ROUTER_INTERFACE, OWNER_ROUTER_GATEWAY, OWNER_FLOATINGIP)


def show(port_id: str, ctx: RequestContext) -> dict[str, Any]:
    with deps.db().session() as s:
        return views.port_views(s, [find_port(s, port_id, ctx)])[0]


def _by_fixed_ips(query: Select[Any]) -> Select[Any]:
    """``?fixed_ips=ip_address=10.0.0.5`` / ``?fixed_ips=subnet_id=...`` filters."""
    columns = {"ip_address": IPAllocation.ip_address, "subnet_id": IPAllocation.subnet_id}
    for value in request.args.getlist("fixed_ips"):
        key, _, wanted = value.partition("=")
        if key in columns:
            holders = select(IPAllocation.port_id).where(columns[key] == wanted)
            query = query.where(Port.id.in_(holders))
    return query


@bp.get("/v2.0/ports")
def list_ports() -> Response:
    ctx = current()
    authorize(ctx, "network:ports:list")
    query = _by_fixed_ips(filtered(select(Port).where(port_scope(ctx)), _FILTERS))
    with deps.db().session() as s:
        rows = s.scalars(query.order_by(Port.created_at, Port.id)).all()
        return listing("ports", views.port_views(s, rows))


@bp.get("/v2.0/ports/<port_id>")
def show_port(port_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:ports:show")
    return jsonify({"port": fields(show(port_id, ctx))})


def _undo_port(port_id: str) -> None:
    """Delete a port a failed bulk create made."""
    delete_port(port_id)


@bp.post("/v2.0/ports")
@bulk("port", "ports", _undo_port)
def create_port() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "network:ports:create")
    spec = spec_of("port")
    check_unsupported(spec)
    network_id = require_str(spec, "network_id", "network_id")
    project = target_project(spec, ctx)
    owner = text_field(spec, "device_owner")
    check_owner_field(owner, ctx)
    mac = parse_mac(spec["mac_address"]) if spec.get("mac_address") is not None else None
    requests = parse_fixed_ips(spec.get("fixed_ips"))
    port_security = bool_field(spec, "port_security_enabled", True)

    def insert(s: Session) -> Port:
        network = find_network(s, network_id, ctx)
        if network.external and network.project_id != ctx.project_id and not is_admin(ctx):
            raise Forbidden(f"Only an admin may create ports on external network {network_id}.")
        if network.status == "DELETING":
            raise Conflict(f"Network {network_id} is being deleted.")
        groups = security_groups(s, spec.get("security_groups"), project, port_security, ctx)
        return add_port(
            s,
            network,
            project,
            requests,
            mac,
            name=text_field(spec, "name"),
            description=text_field(spec, "description"),
            admin_state_up=bool_field(spec, "admin_state_up", True),
            device_id=text_field(spec, "device_id"),
            device_owner=owner,
            port_security_enabled=port_security,
            security_group_ids=groups,
        )

    ensure_default(project)  # outside the transaction, which holds the quota lock
    port = transaction(insert, charge=Claim(project, {"port": 1}))
    realise(
        lambda c: net_starter.create_port(c, project, port.id),
        lambda: _forget(port.id),
    )
    return jsonify({"port": show(port.id, ctx)}), 201


def _forget(port_id: str) -> None:
    with deps.db().session() as s:
        delete_port_rows(s, port_id)


@bp.put("/v2.0/ports/<port_id>")
def update_port(port_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:ports:update")
    spec = spec_of("port")
    check_unsupported(spec)
    change_port(port_id, spec, ctx)
    return jsonify({"port": show(port_id, ctx)})


def change_port(port_id: str, spec: dict[str, Any], ctx: RequestContext) -> None:
    """Apply a Neutron port update, and refilter the port on its host if that is needed
    (the change is undone if that fails)."""

    def change(s: Session) -> tuple[dict[str, Any], bool]:
        port = find_port(s, port_id, ctx)
        require_owner(port.project_id, ctx, f"port {port_id}")
        saved = snapshot(s, port)
        return saved, apply_update(s, port, spec, ctx)

    saved, resync = transaction(change)
    if resync:
        realise(
            lambda c: net_starter.update_port(
                c, saved["project_id"], port_id, groups=tuple(saved["security_group_ids"])
            ),
            lambda: restore(saved),
        )


@bp.delete("/v2.0/ports/<port_id>")
def delete_port(port_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "network:ports:delete")
    with deps.db().session() as s:
        port = find_port(s, port_id, ctx)
        require_owner(port.project_id, ctx, f"port {port_id}")
        held = port.device_owner in _HELD or (port.device_owner == OWNER_DHCP and not is_admin(ctx))
        if held:
            raise faults.PortInUse(
                f"Port {port_id} cannot be deleted directly via the port API: has device"
                f" owner {port.device_owner}."
            )
        project = port.project_id
    deps.bridge().run(lambda c: net_starter.delete_port(c, project, port_id))
    return "", 204
