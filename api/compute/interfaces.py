"""Nova's ``os-interface`` reads: the server's ports as interface attachments
(``GET /servers/{id}/os-interface[/{port_id}]``)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from api import deps
from api.compute import bp
from api.compute.servers import load_server
from api.context import current
from api.microversion import at_least
from api.policy import authorize
from nimbus.db_network import IPAllocation, Port, server_ports
from nimbus.errors import NotFound


def attachment(s: Any, port: Port) -> dict[str, Any]:
    """A port of the server in Nova's ``interfaceAttachment`` shape (from 2.70 with the
    device tag the server's create or the attach named)."""
    query = select(IPAllocation).where(IPAllocation.port_id == port.id)
    ips = s.scalars(query.order_by(IPAllocation.ip_address)).all()
    view: dict[str, Any] = {
        "port_id": port.id,
        "net_id": port.network_id,
        "mac_addr": port.mac_address,
        "port_state": port.status,
        "fixed_ips": [{"subnet_id": ip.subnet_id, "ip_address": ip.ip_address} for ip in ips],
    }
    if at_least("2.70"):
        view["tag"] = port.device_tag
    return view


@bp.get("/v2.1/servers/<server_id>/os-interface")
def list_interfaces(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    server = load_server(server_id, ctx)
    with deps.db().session() as s:
        found = [attachment(s, p) for p in server_ports(s, server.id)]
    return jsonify({"interfaceAttachments": found})


@bp.get("/v2.1/servers/<server_id>/os-interface/<port_id>")
def show_interface(server_id: str, port_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    server = load_server(server_id, ctx)
    with deps.db().session() as s:
        for port in server_ports(s, server.id):
            if port.id == port_id:
                return jsonify({"interfaceAttachment": attachment(s, port)})
    raise NotFound(f"Port {port_id} is not attached to server {server_id}.")
