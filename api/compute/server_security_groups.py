"""``GET /servers/{id}/os-security-groups``: the security groups on the server's ports, in
the shape Nova gives them (Nova converts Neutron's groups the same way: ingress rules
only, a rule without ports spanning all of them, a rule without a remote its 0.0.0.0/0)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from api import deps
from api.compute import bp
from api.compute.servers import load_server
from api.context import current
from api.policy import authorize
from nimbus.db_network import SecurityGroup, SecurityGroupRule, server_ports


@bp.get("/v2.1/servers/<server_id>/os-security-groups")
def server_security_groups(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    server = load_server(server_id, ctx)
    with deps.db().session() as s:
        ids = {g for port in server_ports(s, server.id) for g in (port.security_group_ids or [])}
        groups = s.scalars(
            select(SecurityGroup).where(SecurityGroup.id.in_(ids)).order_by(SecurityGroup.name)
        ).all()
        body = [_group(s, g) for g in groups]
    return jsonify({"security_groups": body})


def _group(s: Any, group: SecurityGroup) -> dict[str, Any]:
    rules = s.scalars(
        select(SecurityGroupRule)
        .where(
            SecurityGroupRule.security_group_id == group.id,
            SecurityGroupRule.direction == "ingress",
        )
        .order_by(SecurityGroupRule.created_at)
    ).all()
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "tenant_id": group.project_id,
        "rules": [_rule(s, r) for r in rules],
    }


def _rule(s: Any, rule: SecurityGroupRule) -> dict[str, Any]:
    low, high = rule.port_range_min, rule.port_range_max
    if rule.protocol and low is None and high is None:
        low, high = (1, 65535) if rule.protocol.lower() in ("tcp", "udp") else (-1, -1)
    body: dict[str, Any] = {
        "id": rule.id,
        "parent_group_id": rule.security_group_id,
        "ip_protocol": rule.protocol,
        "from_port": low,
        "to_port": high,
        "group": {},
        "ip_range": {},
    }
    remote = s.get(SecurityGroup, rule.remote_group_id) if rule.remote_group_id else None
    if remote is not None:
        body["group"] = {"name": remote.name, "tenant_id": remote.project_id}
    else:
        default = "::/0" if rule.ethertype == "IPv6" else "0.0.0.0/0"
        body["ip_range"] = {"cidr": rule.remote_ip_prefix or default}
    return body
