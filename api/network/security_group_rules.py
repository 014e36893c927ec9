"""Security group rules: list, show, create, delete. A change resyncs the group's filters."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from api import deps, quotas
from api.context import RequestContext, current
from api.network import bp, faults, views
from api.network.access import find_group, project_scope
from api.network.bulk import bulk
from api.network.common import fields, filtered, listing, realise, spec_of, text_field
from api.network.security_groups import ensure_default
from api.policy import authorize
from api.validation import digits, require_str
from nimbus import ipam
from nimbus.db_network import SecurityGroupRule, as_dict
from nimbus.errors import InvalidSpec
from workflows import net_starter

#: Protocol names and their IP protocol numbers.
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58}
_PORTED = {6, 17}
_ICMP = {1, 58}
_ANY_PREFIX = {"0.0.0.0/0", "::/0"}

_FILTERS = {
    "id": SecurityGroupRule.id,
    "security_group_id": SecurityGroupRule.security_group_id,
    "direction": SecurityGroupRule.direction,
    "ethertype": SecurityGroupRule.ethertype,
    "protocol": SecurityGroupRule.protocol,
    "port_range_min": SecurityGroupRule.port_range_min,
    "port_range_max": SecurityGroupRule.port_range_max,
    "remote_ip_prefix": SecurityGroupRule.remote_ip_prefix,
    "remote_group_id": SecurityGroupRule.remote_group_id,
    "description": SecurityGroupRule.description,
    "project_id": SecurityGroupRule.project_id,
    "tenant_id": SecurityGroupRule.project_id,
}


def _find_rule(rule_id: str, ctx: RequestContext) -> SecurityGroupRule:
    query = select(SecurityGroupRule).where(
        SecurityGroupRule.id == rule_id, project_scope(SecurityGroupRule, ctx)
    )
    with deps.db().session() as s:
        rule = s.scalars(query).first()
    if rule is None:
        raise faults.SecurityGroupRuleNotFound(rule_id)
    return rule


@bp.get("/v2.0/security-group-rules")
def list_rules() -> Response:
    ctx = current()
    authorize(ctx, "network:security_group_rules:list")
    ensure_default(ctx.project_id)
    query = filtered(
        select(SecurityGroupRule).where(project_scope(SecurityGroupRule, ctx)), _FILTERS
    )
    with deps.db().session() as s:
        rows = s.scalars(query.order_by(SecurityGroupRule.created_at, SecurityGroupRule.id))
        return listing("security_group_rules", [views.rule(r) for r in rows])


@bp.get("/v2.0/security-group-rules/<rule_id>")
def show_rule(rule_id: str) -> Response:
    ctx = current()
    authorize(ctx, "network:security_group_rules:show")
    return jsonify({"security_group_rule": fields(views.rule(_find_rule(rule_id, ctx)))})


def protocol_number(protocol: str | None) -> int | None:
    """The IP protocol number a stored protocol stands for (None: any)."""
    if protocol is None:
        return None
    return PROTOCOLS[protocol] if protocol in PROTOCOLS else int(protocol)


def _protocol(value: Any) -> str | None:
    if value in (None, "", "any"):
        return None
    text = str(value).lower()
    if text in PROTOCOLS:
        return text
    if digits(text) and 0 <= int(text) <= 255:
        return text
    raise InvalidSpec(
        f"Security group rule protocol {value} not supported. Only protocol values"
        " tcp, udp, icmp, ipv6-icmp and integer representations [0 to 255] are supported."
    )


def _port(value: Any, label: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if digits(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidSpec(f"Invalid value for {label}: '{value}' must be from {lo} to {hi}.")
    return value


def _ports(spec: dict[str, Any], number: int | None) -> tuple[int | None, int | None]:
    """The port range (tcp, udp) or ICMP type and code; refused for other protocols."""
    raw_min, raw_max = spec.get("port_range_min"), spec.get("port_range_max")
    if raw_min is None and raw_max is None:
        return None, None
    if number in _PORTED:
        low = _port(raw_min, "port_range_min", 1, 65535)
        high = _port(raw_max, "port_range_max", 1, 65535)
        low, high = (low if low is not None else high), (high if high is not None else low)
        if low is not None and high is not None and low > high:
            raise InvalidSpec("For TCP/UDP protocols, port_range_min must be <= port_range_max")
        return low, high
    if number in _ICMP:
        if raw_min is None:
            raise InvalidSpec("ICMP code (port-range-max) is given without an ICMP type.")
        return _port(raw_min, "ICMP type", 0, 255), _port(raw_max, "ICMP code", 0, 255)
    raise InvalidSpec("Ports can only be given for the tcp and udp protocols (icmp: type/code).")


def _remote(spec: dict[str, Any], ethertype: str, ctx: RequestContext) -> dict[str, Any]:
    prefix, group_id = spec.get("remote_ip_prefix"), spec.get("remote_group_id")
    if prefix is not None and group_id is not None:
        raise InvalidSpec("Only remote_ip_prefix or remote_group_id may be provided.")
    if prefix is not None:
        version = 4 if ethertype == "IPv4" else 6
        try:
            net = ipam.parse_network(prefix, "remote_ip_prefix", version=version, strict=False)
        except InvalidSpec as exc:
            raise InvalidSpec(
                f"Conflicting value ethertype {ethertype} for CIDR {prefix}, or not a CIDR."
            ) from exc
        prefix = str(net)
    if group_id is not None:
        with deps.db().session() as s:
            group_id = find_group(s, str(group_id), ctx).id
    return {"remote_ip_prefix": prefix, "remote_group_id": group_id}


def _values(spec: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    direction = spec.get("direction")
    if direction not in ("ingress", "egress"):
        raise InvalidSpec(f"Invalid input for direction: '{direction}' is not ingress or egress.")
    ethertype = spec.get("ethertype") or "IPv4"
    if ethertype not in ("IPv4", "IPv6"):
        raise InvalidSpec(f"Invalid input for ethertype: '{ethertype}' is not IPv4 or IPv6.")
    protocol = _protocol(spec.get("protocol"))
    low, high = _ports(spec, protocol_number(protocol))
    return {
        "direction": direction,
        "ethertype": ethertype,
        "protocol": protocol,
        "port_range_min": low,
        "port_range_max": high,
        "description": text_field(spec, "description"),
        **_remote(spec, ethertype, ctx),
    }


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two rules the same (a whole-range prefix is the same as none)."""
    prefix = r["remote_ip_prefix"] if r["remote_ip_prefix"] not in _ANY_PREFIX else None
    return (
        r["direction"],
        r["ethertype"],
        protocol_number(r["protocol"]),
        r["port_range_min"],
        r["port_range_max"],
        prefix,
        r["remote_group_id"],
    )


def _undo_security_group_rule(security_group_rule_id: str) -> None:
    """Delete a security group rule a failed bulk create made."""
    delete_rule(security_group_rule_id)


@bp.post("/v2.0/security-group-rules")
@bulk("security_group_rule", "security_group_rules", _undo_security_group_rule)
def create_rule() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "network:security_group_rules:create")
    spec = spec_of("security_group_rule")
    group_id = require_str(spec, "security_group_id", "security_group_id")
    values = _values(spec, ctx)
    with deps.db().session() as s:
        project = find_group(s, group_id, ctx).project_id
    with deps.db().session() as s:
        quotas.charge(s, project, {"security_group_rule": 1})
        group = find_group(s, group_id, ctx)
        query = select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == group_id)
        for existing in s.scalars(query):
            if _key(as_dict(existing)) == _key(values):
                raise faults.SecurityGroupRuleExists(existing.id)
        rule = SecurityGroupRule(project_id=group.project_id, security_group_id=group.id, **values)
        s.add(rule)
    realise(
        lambda c: net_starter.sync_security_group(c, rule.project_id, group_id, added_rule=rule.id),
        lambda: _forget(rule.id),
    )
    return jsonify({"security_group_rule": views.rule(_find_rule(rule.id, ctx))}), 201


def _forget(rule_id: str) -> None:
    with deps.db().session() as s:
        rule = s.get(SecurityGroupRule, rule_id)
        if rule is not None:
            s.delete(rule)


@bp.delete("/v2.0/security-group-rules/<rule_id>")
def delete_rule(rule_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "network:security_group_rules:delete")
    saved = as_dict(_find_rule(rule_id, ctx))
    with deps.db().session() as s:
        rule = s.get(SecurityGroupRule, rule_id)
        if rule is not None:
            s.delete(rule)
    realise(
        lambda c: net_starter.sync_security_group(
            c, saved["project_id"], saved["security_group_id"]
        ),
        lambda: _reinsert(saved),
    )
    return "", 204


def _reinsert(saved: dict[str, Any]) -> None:
    with deps.db().session() as s:
        if s.get(SecurityGroupRule, saved["id"]) is None:
            s.add(SecurityGroupRule(**saved))
