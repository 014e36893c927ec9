"""Routers: list, show, create, update (with the external gateway), delete. The gateway is
a ``network:router_gateway`` port on an external network; changes run router workflows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext, current
from api.network import bp, faults, views
from api.network.access import find_network, find_router, project_scope
from api.network.allocate import IpRequest, add_port, parse_fixed_ips
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
from nimbus.db_network import (
    OWNER_ROUTER_GATEWAY,
    OWNER_ROUTER_INTERFACE,
    FloatingIP,
    IPAllocation,
    Port,
    Router,
    delete_port_rows,
)
from nimbus.errors import Conflict, InvalidSpec
from nimbus.quota import Claim
from workflows import net_starter

_FILTERS = {
    "id": Router.id,
    "name": Router.name,
    "description": Router.description,
    "status": Router.status,
    "admin_state_up": Router.admin_state_up,
    "project_id": Router.project_id,
    "tenant_id": Router.project_id,
}

_UPDATABLE = {"name", "description", "admin_state_up", "external_gateway_info", "routes"}
_SAVED = ("name", "description", "admin_state_up", "enable_snat", "gw_port_id")


@dataclass(frozen=True)
class Gateway:
    network_id: str
    enable_snat: bool
    fixed_ips: list[IpRequest] | None


def show(router_id: str, ctx: RequestContext) -> dict[str, Any]:
    with deps.db().session() as s:
        return views.router_views(s, [find_router(s, router_id, ctx)])[0]


@bp.get("/v2.0/routers")
def list_routers() -> Response:
    ctx = current()
    authorize(ctx, "network:routers:list")
    query = filtered(select(Router).where(project_scope(Router, ctx)), _FILTERS)
    with deps.db().session() as s:
        rows = s.scalars(query.order_by(Router.created_at, Router.id)).all()
        return listing("routers", views.router_views(s, rows))


@bp.get("/v2.0/routers/<router_id>")
def show_router(router_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:routers:show")
    return jsonify({"router": fields(show(router_id, ctx))})


def _gateway(raw: Any, ctx: RequestContext) -> Gateway | None:
    """The requested gateway; None (or ``{}``) means none. Turning SNAT off and choosing
    the gateway's addresses are for admins, as in Neutron's default policy."""
    if not raw:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("network_id"), str):
        raise InvalidSpec("Invalid input for external_gateway_info: a network_id is required.")
    enable_snat = bool_field(raw, "enable_snat", True)
    fixed_ips = parse_fixed_ips(raw.get("external_fixed_ips"))
    if not enable_snat or fixed_ips:
        authorize(ctx, "network:routers:gateway_options")
    return Gateway(raw["network_id"], enable_snat, fixed_ips or None)


def _check_extras(spec: dict[str, Any]) -> None:
    if spec.get("routes"):
        raise faults.NotSupported("Static routes on routers (extraroute) are not supported.")
    if spec.get("distributed") or spec.get("ha"):
        raise faults.NotSupported("Distributed and HA routers are not supported.")


def attach_gateway(s: Session, router: Router, gateway: Gateway, ctx: RequestContext) -> Port:
    """A gateway port for the router on the external network, with its addresses."""
    network = find_network(s, gateway.network_id, ctx)
    if not network.external:
        raise InvalidSpec(f"Network {network.id} is not a valid external network.")
    port = add_port(
        s,
        network,
        "",
        gateway.fixed_ips,
        device_owner=OWNER_ROUTER_GATEWAY,
        device_id=router.id,
        port_security_enabled=False,
        security_group_ids=[],
    )
    if not s.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)).first():
        raise InvalidSpec(f"External network {network.id} has no subnet to give the gateway.")
    router.external_network_id, router.gw_port_id = network.id, port.id
    router.enable_snat = gateway.enable_snat
    return port


@bp.post("/v2.0/routers")
def create_router() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "network:routers:create")
    spec = spec_of("router")
    _check_extras(spec)
    project = target_project(spec, ctx)
    gateway = _gateway(spec.get("external_gateway_info"), ctx)

    def insert(s: Session) -> Router:
        router = Router(
            project_id=project,
            name=text_field(spec, "name"),
            description=text_field(spec, "description"),
            admin_state_up=bool_field(spec, "admin_state_up", True),
            status="BUILD",
        )
        s.add(router)
        s.flush()
        if gateway is not None:
            attach_gateway(s, router, gateway, ctx)
        return router

    router = transaction(insert, charge=Claim(project, {"router": 1}))
    realise(
        lambda c: net_starter.create_router(c, project, router.id),
        lambda: _forget(router.id),
    )
    return jsonify({"router": show(router.id, ctx)}), 201


def _forget(router_id: str) -> None:
    with deps.db().session() as s:
        router = s.get(Router, router_id)
        if router is not None:
            if router.gw_port_id:
                delete_port_rows(s, router.gw_port_id)
            s.delete(router)


def _check_no_floating(s: Session, router: Router) -> None:
    if s.scalars(select(FloatingIP.id).where(FloatingIP.router_id == router.id)).first():
        raise faults.RouterExternalGatewayInUseByFloatingIp(
            f"Gateway cannot be updated for router {router.id}, since a gateway to external"
            f" network {router.external_network_id} is required by one or more floating IPs."
        )


def _change_gateway(
    s: Session, router: Router, raw: Any, ctx: RequestContext
) -> tuple[tuple[str, ...], str | None]:
    """Set, change or clear the gateway: (ports to release, the new gateway port)."""
    gateway = _gateway(raw, ctx)
    same = gateway is not None and gateway.network_id == router.external_network_id
    if same and gateway is not None and gateway.fixed_ips is None:
        router.enable_snat = gateway.enable_snat
        return (), None
    if gateway is None and router.gw_port_id is None:
        return (), None
    released: tuple[str, ...] = ()
    if router.gw_port_id is not None:
        _check_no_floating(s, router)
        released = (router.gw_port_id,)
        router.gw_port_id = router.external_network_id = None
    added = attach_gateway(s, router, gateway, ctx).id if gateway is not None else None
    return released, added


@bp.put("/v2.0/routers/<router_id>")
def update_router(router_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:routers:update")
    spec = spec_of("router")
    unknown = set(spec) - _UPDATABLE
    if unknown:
        raise faults.NotSupported(f"Updating {', '.join(sorted(unknown))} is not supported.")
    _check_extras(spec)

    def change(s: Session) -> tuple[dict[str, Any], tuple[str, ...], str | None, bool]:
        router = find_router(s, router_id, ctx)
        saved = {key: getattr(router, key) for key in _SAVED}
        saved["external_network_id"] = router.external_network_id
        router.name = text_field(spec, "name", router.name)
        router.description = text_field(spec, "description", router.description)
        router.admin_state_up = bool_field(spec, "admin_state_up", router.admin_state_up)
        released: tuple[str, ...] = ()
        added: str | None = None
        if "external_gateway_info" in spec:
            released, added = _change_gateway(s, router, spec["external_gateway_info"], ctx)
        after = {key: getattr(router, key) for key in _SAVED if key not in ("name", "description")}
        resync = any(saved[key] != value for key, value in after.items())
        return {**saved, "project_id": router.project_id}, released, added, resync

    saved, released, added, resync = transaction(change)
    if resync:
        realise(
            lambda c: net_starter.update_router(
                c,
                saved["project_id"],
                router_id,
                release_ports=released,
                added_port=added,
                added_port_created=added is not None,
            ),
            lambda: _restore(router_id, saved, added),
        )
    return jsonify({"router": show(router_id, ctx)})


def _restore(router_id: str, saved: dict[str, Any], added: str | None) -> None:
    """Undo an update whose workflow could not run: old values, old gateway port back."""
    with deps.db().session() as s:
        if added is not None:
            delete_port_rows(s, added)
        router = s.get(Router, router_id)
        if router is None:
            return
        for key, value in saved.items():
            if key != "project_id":
                setattr(router, key, value)
        if router.gw_port_id and s.get(Port, router.gw_port_id) is None:
            router.gw_port_id = router.external_network_id = None


def interfaces(s: Session, router_id: str) -> list[Port]:
    """The router's interface ports."""
    query = select(Port).where(
        Port.device_id == router_id, Port.device_owner == OWNER_ROUTER_INTERFACE
    )
    return list(s.scalars(query.order_by(Port.created_at)))


@bp.delete("/v2.0/routers/<router_id>")
def delete_router(router_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "network:routers:delete")
    with deps.db().session() as s:
        router = find_router(s, router_id, ctx)
        if interfaces(s, router_id):
            raise faults.RouterInUse(router_id)
        if router.status == "DELETING":
            raise Conflict(f"Router {router_id} is already being deleted.")
        status, project, router.status = router.status, router.project_id, "DELETING"
    realise(
        lambda c: net_starter.delete_router(c, project, router_id),
        lambda: _set_status(router_id, status),
    )
    return "", 204


def _set_status(router_id: str, status: str) -> None:
    with deps.db().session() as s:
        router = s.get(Router, router_id)
        if router is not None:
            router.status = status
