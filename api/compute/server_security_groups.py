"""A server's security groups: ``GET /servers/{id}/os-security-groups``, in the shape Nova
gives them (Nova converts Neutron's groups the same way: ingress rules only, a rule without
ports spanning all of them, a rule without a remote its 0.0.0.0/0), and the
``addSecurityGroup``/``removeSecurityGroup`` actions (``openstack server add/remove
security group``), which change the groups of every port of the server that has port
security, refiltering each on its host."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import or_, select

from api import deps
from api.compute import bp
from api.compute.servers import load_server
from api.context import RequestContext, current
from api.network.ports import change_port
from api.policy import authorize
from api.validation import require_str
from nimbus.db import Server
from nimbus.db_network import SecurityGroup, SecurityGroupRule, server_ports
from nimbus.errors import Conflict, InvalidSpec, NotFound


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


def add_security_group(server: Server, ctx: RequestContext, args: Any) -> tuple[str, int]:
    return _change_groups(server, ctx, args, add=True)


def remove_security_group(server: Server, ctx: RequestContext, args: Any) -> tuple[str, int]:
    return _change_groups(server, ctx, args, add=False)


def _change_groups(server: Server, ctx: RequestContext, args: Any, add: bool) -> tuple[str, int]:
    authorize(ctx, "compute:servers:update")
    if not isinstance(args, dict):
        raise InvalidSpec("The action needs an object with the group's 'name'.")
    ref = require_str(args, "name", "name")
    with deps.db().session() as s:
        found = s.scalars(
            select(SecurityGroup).where(
                SecurityGroup.project_id == server.project_id,
                or_(SecurityGroup.id == ref, SecurityGroup.name == ref),
            )
        ).all()
        if not found:
            raise NotFound(f"Security group {ref} not found for project {server.project_id}.")
        if len(found) > 1:
            raise Conflict(f"Multiple security groups named {ref}: use its id.")
        group = found[0]
        ports = [
            (p.id, list(p.security_group_ids or []))
            for p in server_ports(s, server.id)
            if p.port_security_enabled
        ]
    if not ports:
        raise InvalidSpec(f"Server {server.id} has no port a security group can be applied to.")
    holding = [port_id for port_id, groups in ports if group.id in groups]
    if add and len(holding) == len(ports):
        raise InvalidSpec(f"Security group {ref} is already associated with the instance.")
    if not add and not holding:
        raise InvalidSpec(f"Security group {ref} not associated with the instance.")
    for port_id, groups in ports:
        changed = (
            groups + [group.id]
            if add and group.id not in groups
            else [g for g in groups if g != group.id]
            if not add
            else groups
        )
        if changed != groups:
            change_port(port_id, {"security_groups": changed}, ctx)
    return "", 202
