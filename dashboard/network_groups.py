"""Security groups: list, a group's page with its rules, create and delete a group, add
and delete a rule. The default group's rules are changed like any other's, as far as
the networking API allows. Each is a call to that API as the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError, refusal
from dashboard.network import NETWORK, attempt, back, bp, by_name, listed, page_args, shown, text

PROTOCOLS = ("any", "tcp", "udp", "icmp")
DEFAULT = "default"


def groups() -> list[dict[str, Any]]:
    """The project's groups (an admin's list, too, holds only its project's)."""
    return by_name(listed("security-groups", project_id=g.session.project_id))


@bp.get("/security-groups")
def security_groups() -> str:
    return render_template(
        "network_security_groups.html", groups=groups(), default=DEFAULT, **page_args()
    )


@bp.post("/security-groups")
def create_group() -> WerkzeugResponse:
    body = {"name": text(request.form, "name"), "description": text(request.form, "description")}
    try:
        if not body["name"]:
            raise ApiError(400, "Give the security group a name.")
        made = g.api.json("POST", f"{NETWORK}/security-groups", json={"security_group": body})
    except ApiError as exc:
        return back("network.security_groups", refusal(exc))
    return back("network.security_group", group_id=made["security_group"]["id"])


def port_range(rule: dict[str, Any]) -> str:
    """The rule's ports as people write them: 22, 8000-8080, any; ICMP's type and code."""
    low, high = rule["port_range_min"], rule["port_range_max"]
    if rule["protocol"] in ("icmp", "ipv6-icmp", "icmpv6", "1", "58"):
        if low is None:
            return "any"
        return f"type {low}" + (f" code {high}" if high is not None else "")
    if low is None and high is None:
        return "any"
    return str(low) if low == high else f"{low}-{high}"


def _rule_order(rule: dict[str, Any]) -> tuple[Any, ...]:
    return (
        rule["direction"],
        rule["ethertype"],
        rule["protocol"] or "",
        rule["port_range_min"] or 0,
        rule["id"],
    )


@bp.get("/security-groups/<group_id>")
def security_group(group_id: str) -> str:
    found = shown("security-groups", "security_group", group_id)
    others = groups()
    rules = [{**r, "ports": port_range(r)} for r in found["security_group_rules"]]
    return render_template(
        "network_security_group.html",
        group=found,
        rules=sorted(rules, key=_rule_order),
        names={o["id"]: o["name"] for o in others},
        groups=others,
        protocols=PROTOCOLS,
        default=DEFAULT,
        **page_args(),
    )


@bp.post("/security-groups/<group_id>/delete")
def delete_group(group_id: str) -> WerkzeugResponse:
    return attempt(
        lambda: g.api.json("DELETE", f"{NETWORK}/security-groups/{group_id}"),
        "network.security_groups",
        (401, 404),
    )


def rule_body(form: MultiDict[str, str], group_id: str) -> dict[str, Any]:
    """A rule request from the form; the API checks the combination (ports only for tcp
    and udp, ICMP type and code, a CIDR or a group but not both)."""
    protocol = text(form, "protocol")
    body: dict[str, Any] = {
        "security_group_id": group_id,
        "direction": text(form, "direction") or "ingress",
        "ethertype": text(form, "ethertype") or "IPv4",
        "protocol": None if protocol in ("", "any") else protocol,
    }
    for key in ("port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id"):
        if text(form, key):
            body[key] = text(form, key)
    return body


@bp.post("/security-groups/<group_id>/rules")
def add_rule(group_id: str) -> WerkzeugResponse:
    body = {"security_group_rule": rule_body(request.form, group_id)}
    return attempt(
        lambda: g.api.json("POST", f"{NETWORK}/security-group-rules", json=body),
        "network.security_group",
        group_id=group_id,
    )


@bp.post("/security-groups/<group_id>/rules/<rule_id>/delete")
def delete_rule(group_id: str, rule_id: str) -> WerkzeugResponse:
    def call() -> None:
        rule = shown("security-group-rules", "security_group_rule", rule_id)
        if rule["security_group_id"] != group_id:
            raise ApiError(404, f"Security group {group_id} has no rule {rule_id}.")
        g.api.json("DELETE", f"{NETWORK}/security-group-rules/{rule_id}")

    return attempt(call, "network.security_group", (401, 404), group_id=group_id)
