"""Nova's server groups (``/os-server-groups``, ``openstack server group ...``), and the
``group`` scheduler hint that puts a new server in one.

A group is a placement policy its members are scheduled by (``nimbus.scheduler``):
``affinity``, ``anti-affinity``, and from 2.15 ``soft-affinity`` and
``soft-anti-affinity``. Before 2.64 the policy is a one-item ``policies`` list (and the
view carries an always-empty ``metadata``); from 2.64 it is ``policy``, with ``rules``
(``max_server_per_host``, for anti-affinity only). ``project_id`` and ``user_id`` show
from 2.13. Creating answers 200, deleting 204; a project holds at most 10 groups and a
group 10 servers (Nova's default quotas, 403 past them). Groups change no
infrastructure: they are rows, as in Nova.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import deps
from api.compute import bp
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import allowed, authorize
from api.validation import digits, json_body, require_dict
from nimbus.db import Server
from nimbus.db_compute import ServerGroup, ServerGroupMember
from nimbus.errors import InvalidSpec, NotFound, QuotaExceeded
from nimbus.scheduler import ANTI_AFFINITY, POLICIES

#: Nova's default ``server_groups`` and ``server_group_members`` quotas.
MAX_GROUPS, MAX_MEMBERS = 10, 10
#: Nova's ``common.limited``: at most this many in one page.
MAX_LIMIT = 1000


def _policies() -> tuple[str, ...]:
    return POLICIES if at_least("2.15") else POLICIES[:2]


def _members(s: Session, group_id: str) -> list[str]:
    """The group's servers that are not deleted, oldest first."""
    rows = s.scalars(
        select(Server.id)
        .join(ServerGroupMember, ServerGroupMember.server_id == Server.id)
        .where(ServerGroupMember.group_id == group_id, Server.deleted_at.is_(None))
        .order_by(Server.created_at, Server.id)
    )
    return list(rows)


def _view(s: Session, group: ServerGroup) -> dict[str, Any]:
    view: dict[str, Any] = {"id": group.id, "name": group.name}
    if at_least("2.64"):
        view["policy"] = group.policy
        view["rules"] = dict(group.rules or {})
    else:
        view["policies"] = [group.policy]
        view["metadata"] = {}
    view["members"] = _members(s, group.id)
    if at_least("2.13"):
        view["project_id"], view["user_id"] = group.project_id, group.user_id
    return view


def _load(s: Session, ctx: RequestContext, group_id: str) -> ServerGroup:
    """The group, if the caller's project owns it (or the caller is an admin)."""
    group = s.get(ServerGroup, group_id)
    if group is None or not (
        group.project_id == ctx.project_id or allowed(ctx, "compute:server_groups:all_projects")
    ):
        raise NotFound(f"Instance group {group_id} could not be found.")
    return group


def _page(groups: list[ServerGroup]) -> list[ServerGroup]:
    """Nova's ``limit`` and ``offset`` (non-negative integers; limit at most 1000)."""
    values = {}
    for name in ("limit", "offset"):
        raw = request.args.get(name)
        if raw is None:
            continue
        if not digits(raw):
            raise InvalidSpec(f"Invalid input for query parameters {name}. Value: {raw}.")
        values[name] = int(raw)
    offset = values.get("offset", 0)
    limit = min(values.get("limit", MAX_LIMIT), MAX_LIMIT)
    return groups[offset : offset + limit]


@bp.get("/v2.1/os-server-groups")
def list_server_groups() -> Response:
    ctx = current()
    authorize(ctx, "compute:server_groups:list")
    everyone = "all_projects" in request.args and allowed(ctx, "compute:server_groups:all_projects")
    query = select(ServerGroup).order_by(ServerGroup.created_at, ServerGroup.id)
    if not everyone:
        query = query.where(ServerGroup.project_id == ctx.project_id)
    with deps.db().session() as s:
        groups = _page(list(s.scalars(query)))
        return jsonify({"server_groups": [_view(s, g) for g in groups]})


@bp.get("/v2.1/os-server-groups/<server_group_id>")
def show_server_group(server_group_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:server_groups:show")
    with deps.db().session() as s:
        return jsonify({"server_group": _view(s, _load(s, ctx, server_group_id))})


@bp.delete("/v2.1/os-server-groups/<server_group_id>")
def delete_server_group(server_group_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "compute:server_groups:delete")
    with deps.db().session() as s:
        group = _load(s, ctx, server_group_id)
        for member in s.scalars(
            select(ServerGroupMember).where(ServerGroupMember.group_id == group.id)
        ):
            s.delete(member)
        s.delete(group)
    return "", 204


def _fields(spec: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Name, policy and rules of a create request, checked as Nova's schema does."""
    allowed_keys = {"name", "policy", "rules"} if at_least("2.64") else {"name", "policies"}
    extra = set(spec) - allowed_keys
    if extra:
        names = ", ".join(f"'{k}'" for k in sorted(extra))
        raise InvalidSpec(f"Additional properties are not allowed ({names} was unexpected)")
    name = spec.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or name.strip() != name:
        raise InvalidSpec("Invalid input for field/attribute name.")
    if at_least("2.64"):
        policy = spec.get("policy")
    else:
        policies = spec.get("policies")
        if not isinstance(policies, list) or len(policies) != 1:
            raise InvalidSpec("Invalid input for field/attribute policies.")
        policy = policies[0]
    if policy not in _policies():
        raise InvalidSpec(f"Invalid input for field/attribute policy. Value: {policy}.")
    rules = spec.get("rules", {})
    if not isinstance(rules, dict) or set(rules) - {"max_server_per_host"}:
        raise InvalidSpec("Invalid input for field/attribute rules.")
    if rules and policy != ANTI_AFFINITY:
        raise InvalidSpec('Only anti-affinity policy supports "max_server_per_host" rule.')
    if "max_server_per_host" in rules:
        raw = rules["max_server_per_host"]
        number = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        if not digits(number) or int(number) < 1:
            raise InvalidSpec("Invalid input for field/attribute max_server_per_host.")
        rules = {"max_server_per_host": int(number)}
    return name, str(policy), rules


@bp.post("/v2.1/os-server-groups")
def create_server_group() -> Response:
    ctx = current()
    authorize(ctx, "compute:server_groups:create")
    name, policy, rules = _fields(require_dict(json_body(), "server_group", "server_group"))
    with deps.db().session() as s:
        count = s.scalar(
            select(func.count())
            .select_from(ServerGroup)
            .where(ServerGroup.project_id == ctx.project_id)
        )
        if (count or 0) >= MAX_GROUPS:
            raise QuotaExceeded("Quota exceeded, too many server groups.")
        group = ServerGroup(
            id=str(uuid.uuid4()),
            project_id=ctx.project_id,
            user_id=ctx.user_id,
            name=name,
            policy=policy,
            rules=rules,
        )
        s.add(group)
        s.flush()
        return jsonify({"server_group": _view(s, group)})


def requested_group(body: dict[str, Any], ctx: RequestContext) -> str | None:
    """The ``group`` scheduler hint of a server create request: a group the caller's
    project may use (400 otherwise), or None."""
    hints = body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints"))
    if hints is None:
        return None
    if not isinstance(hints, dict):
        raise InvalidSpec("Invalid input for field/attribute os:scheduler_hints.")
    group_id = hints.get("group")
    if group_id is None:
        return None
    try:
        uuid.UUID(str(group_id))
    except ValueError:
        raise InvalidSpec(f"Invalid input for field/attribute group. Value: {group_id}.") from None
    with deps.db().session() as s:
        try:
            _load(s, ctx, str(group_id))
        except NotFound as exc:
            raise InvalidSpec(str(exc)) from None
    return str(group_id)


def join(s: Session, group_id: str, servers: list[Server]) -> None:
    """Make ``servers`` members of the group, within its members quota (403 past it)."""
    if len(_members(s, group_id)) + len(servers) > MAX_MEMBERS:
        raise QuotaExceeded("Quota exceeded, too many servers in group")
    s.add_all(ServerGroupMember(server_id=server.id, group_id=group_id) for server in servers)


def groups_of(s: Session, server_id: str) -> list[str]:
    """The ids of the groups the server is in (none or one)."""
    member = s.get(ServerGroupMember, server_id)
    return [member.group_id] if member is not None else []
