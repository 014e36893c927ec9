"""Placing a server: the hosts' rows read into ``nimbus.scheduler``'s terms, and the
chosen host claimed in the same transaction.

A claim is the server's ``host`` (its flavor's vCPUs and memory count against that host
from then on). Every placement first bumps every host's ``generation``: that write makes
concurrent placements queue (PostgreSQL locks the rows until commit, SQLite the whole
database), so each one reads the usage with the claims committed before it, and no two
boots ever take the same free memory twice.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from temporalio.exceptions import ApplicationError

from nimbus.db import Flavor, Host, Server, utcnow
from nimbus.db_compute import (
    MIGRATION_IN_PROGRESS,
    Migration,
    ServerGroup,
    ServerGroupMember,
    flavor_value,
    join_server_flavors,
)
from nimbus.errors import Conflict
from nimbus.scheduler import (
    NO_VALID_HOST,
    Decision,
    HostState,
    Request,
    is_up,
    place,
)

log = logging.getLogger(__name__)


def _usage(s: Session) -> dict[str, tuple[int, int]]:
    """vCPUs and MiB of memory the live servers on each host take, by their flavors."""
    columns: Any = select(
        Server.host, func.sum(flavor_value("vcpus")), func.sum(flavor_value("ram"))
    ).select_from(Server)
    query = join_server_flavors(columns).where(
        Server.deleted_at.is_(None), Server.host.is_not(None)
    )
    rows = s.execute(query.group_by(Server.host))
    used = {str(host): (int(vcpus or 0), int(ram or 0)) for host, vcpus, ram in rows}
    for host, vcpus, ram in _moving(s):
        before = used.get(host, (0, 0))
        used[host] = (before[0] + vcpus, before[1] + ram)
    return used


def _moving(s: Session) -> list[tuple[str, int, int]]:
    """What servers on the move hold on the host they are not on: the destination until
    they reach it; a cold migration's source too, until it is confirmed or reverted."""
    columns: Any = select(
        Migration.migration_type,
        Migration.source_compute,
        Migration.dest_compute,
        Server.host,
        flavor_value("vcpus"),
        flavor_value("ram"),
    ).select_from(Server)
    query = join_server_flavors(columns).join(Migration, Migration.server_id == Server.id)
    rows = s.execute(
        query.where(
            Server.deleted_at.is_(None),
            Migration.status.in_(MIGRATION_IN_PROGRESS),
            Migration.dest_compute.is_not(None),
        )
    )
    held = []
    for kind, source, dest, host, vcpus, ram in rows:
        if host == source:
            held.append((str(dest), int(vcpus or 0), int(ram or 0)))
        elif host == dest and kind == "migration":
            held.append((str(source), int(vcpus or 0), int(ram or 0)))
    return held


def _group_of(s: Session, server_id: str) -> tuple[ServerGroup | None, dict[str, int]]:
    """The server's group, and how many of its other placed members are on each host."""
    member = s.get(ServerGroupMember, server_id)
    if member is None:
        return None, {}
    group = s.get(ServerGroup, member.group_id)
    rows = s.execute(
        select(Server.host, func.count())
        .join(ServerGroupMember, ServerGroupMember.server_id == Server.id)
        .where(
            ServerGroupMember.group_id == member.group_id,
            Server.id != server_id,
            Server.deleted_at.is_(None),
            Server.host.is_not(None),
        )
        .group_by(Server.host)
    )
    return group, {str(host): int(count) for host, count in rows}


def host_states(
    s: Session, members: dict[str, int] | None = None, network_nodes: bool = False
) -> list[HostState]:
    """Every registered host (or network node) as the scheduler sees it now."""
    used = _usage(s)
    now = utcnow()
    members = members or {}
    return [
        HostState(
            name=h.name,
            vcpus=h.vcpus,
            memory_mib=h.memory_mib,
            cpu_allocation_ratio=h.cpu_allocation_ratio,
            ram_allocation_ratio=h.ram_allocation_ratio,
            reserved_memory_mib=h.reserved_memory_mib,
            vcpus_used=used.get(h.name, (0, 0))[0],
            memory_used_mib=used.get(h.name, (0, 0))[1],
            zone=h.availability_zone,
            alive=is_up(h.heartbeat_at, h.forced_down, now),
            enabled=not h.disabled,
            group_members=members.get(h.name, 0),
        )
        for h in s.scalars(select(Host).order_by(Host.name))
        if h.network_node or not network_nodes
    ]


def _place(s: Session, server: Server, flavor: Flavor, **where: str | None) -> Decision:
    """The scheduler's decision for ``server``'s flavor and group, with ``where``'s
    ``Request`` fields (a zone, a host asked for, the host it leaves)."""
    group, members = _group_of(s, server.id)
    request = Request(
        vcpus=flavor.vcpus,
        memory_mib=flavor.ram,
        group_policy=group.policy if group else None,
        max_server_per_host=int((group.rules or {}).get("max_server_per_host", 1)) if group else 1,
        group_size=sum(members.values()),
        **where,
    )
    return place(request, host_states(s, members))


def _found(decision: Decision) -> str:
    """The chosen host; Nova's ``NoValidHost`` (not retried), with every host's refusal,
    if none fits."""
    if decision.host is None:
        raise ApplicationError(
            NO_VALID_HOST, decision.summary(), type="NoValidHost", non_retryable=True
        )
    return decision.host


def claim(s: Session, server: Server, flavor: Flavor) -> Decision:
    """Place ``server`` (in the caller's transaction): its host and zone are set, or
    ``NoValidHost`` is raised with every host's refusal in its details. A server placed
    already (a retried boot, a host an admin forced) keeps its host."""
    if server.host is not None:
        kept = Decision(server.host, [server.host])
        server.availability_zone = server.availability_zone or _zone(s, server.host)
        return kept
    s.execute(update(Host).values(generation=Host.generation + 1))
    decision = _place(s, server, flavor, zone=server.availability_zone)
    log.info("placing server %s: %s", server.id, decision.summary())
    server.host = _found(decision)
    server.availability_zone = server.availability_zone or _zone(s, server.host)
    return decision


def claim_move(s: Session, server: Server, flavor: Flavor, move: Migration) -> Decision:
    """Choose where ``server`` moves to (in the caller's transaction), other than its own
    host: the host the migration asks for if it passes the filters (or whatever its
    state, if forced), else the scheduler's choice. The migration's ``dest_compute`` is
    set; a retry after that committed keeps it. ``NoValidHost`` as for a boot."""
    if move.status != "accepted":
        return Decision(move.dest_compute, [move.dest_compute] if move.dest_compute else [])
    s.execute(update(Host).values(generation=Host.generation + 1))
    if move.forced and move.dest_compute:
        decision = Decision(move.dest_compute, [move.dest_compute])
    else:
        decision = _place(s, server, flavor, host=move.dest_compute, leaving=move.source_compute)
    log.info("moving server %s: %s", server.id, decision.summary())
    _found(decision)
    move.dest_compute, move.status = decision.host, "pre-migrating"
    return decision


def _zone(s: Session, host: str) -> str | None:
    row = s.get(Host, host)
    return row.availability_zone if row else None


def live_host(s: Session) -> str:
    """A host for network devices (DHCP servers, routers): the live, enabled network
    node with the most memory free."""
    decision = place(Request(0, 0), host_states(s, network_nodes=True))
    if decision.host is None:
        raise Conflict(f"no network node is up: start a worker (nimbus up); {decision.summary()}")
    return decision.host
