"""Who sees which networking rows: a project sees its own; networks that are shared or
external are seen by every project; an admin sees everything. Rows a caller may not see
answer 404, exactly as missing ones; rows it sees but does not own answer 403 to writes."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from api.context import RequestContext
from api.errors import Forbidden
from api.network import faults
from api.network.common import is_admin
from nimbus.db_network import FloatingIP, Network, Port, Router, SecurityGroup, Subnet

Row = TypeVar("Row")


def network_scope(ctx: RequestContext) -> ColumnElement[bool]:
    """The networks the caller sees."""
    if is_admin(ctx):
        return true()
    return or_(
        Network.project_id == ctx.project_id, Network.shared.is_(True), Network.external.is_(True)
    )


def subnet_scope(ctx: RequestContext) -> ColumnElement[bool]:
    """The subnets the caller sees: its own, and those on shared networks or on networks
    it owns (not those of another project's external network, as in Neutron)."""
    if is_admin(ctx):
        return true()
    networks = select(Network.id).where(
        or_(Network.shared.is_(True), Network.project_id == ctx.project_id)
    )
    return or_(Subnet.project_id == ctx.project_id, Subnet.network_id.in_(networks))


def port_scope(ctx: RequestContext) -> ColumnElement[bool]:
    """The ports the caller sees: its own and every port on a network it owns."""
    if is_admin(ctx):
        return true()
    owned = select(Network.id).where(Network.project_id == ctx.project_id)
    return or_(Port.project_id == ctx.project_id, Port.network_id.in_(owned))


def project_scope(model: Any, ctx: RequestContext) -> ColumnElement[bool]:
    """Rows of the caller's project (all rows for an admin)."""
    return true() if is_admin(ctx) else model.project_id == ctx.project_id


def _first(s: Session, model: type[Row], row_id: str, scope: ColumnElement[bool]) -> Row | None:
    row: Row | None = s.scalars(select(model).where(model.id == row_id, scope)).first()  # type: ignore[attr-defined]
    return row


def find_network(s: Session, network_id: str, ctx: RequestContext) -> Network:
    network = _first(s, Network, network_id, network_scope(ctx))
    if network is None:
        raise faults.NetworkNotFound(network_id)
    return network


def find_subnet(s: Session, subnet_id: str, ctx: RequestContext) -> Subnet:
    subnet = _first(s, Subnet, subnet_id, subnet_scope(ctx))
    if subnet is None:
        raise faults.SubnetNotFound(subnet_id)
    return subnet


def find_port(s: Session, port_id: str, ctx: RequestContext) -> Port:
    port = _first(s, Port, port_id, port_scope(ctx))
    if port is None:
        raise faults.PortNotFound(port_id)
    return port


def find_router(s: Session, router_id: str, ctx: RequestContext) -> Router:
    router = _first(s, Router, router_id, project_scope(Router, ctx))
    if router is None:
        raise faults.RouterNotFound(router_id)
    return router


def find_floatingip(s: Session, fip_id: str, ctx: RequestContext) -> FloatingIP:
    fip = _first(s, FloatingIP, fip_id, project_scope(FloatingIP, ctx))
    if fip is None:
        raise faults.FloatingIPNotFound(fip_id)
    return fip


def find_group(s: Session, group_id: str, ctx: RequestContext) -> SecurityGroup:
    group = _first(s, SecurityGroup, group_id, project_scope(SecurityGroup, ctx))
    if group is None:
        raise faults.SecurityGroupNotFound(group_id)
    return group


def require_owner(project_id: str, ctx: RequestContext, what: str) -> None:
    """Refuse (403) a change to a row the caller sees but another project owns."""
    if project_id != ctx.project_id and not is_admin(ctx):
        raise Forbidden(f"Only the owner of {what} or an admin may do this.")
