"""Per-project quotas: limits, usage counted from the resource rows, and atomic checks.

Usage is never stored: each resource counts its own live rows, so nothing can drift.
A check is atomic because it runs in the transaction that inserts the new rows and its
first statement is a write on the project's ``quota_locks`` row:

- SQLite (WAL, pysqlite's legacy transactions): a SELECT opens no transaction, a write
  does and takes the database's one write lock, waiting (busy timeout) while another
  writer holds it. A transaction whose first statement is that write reads, from then
  on, the newest committed data, and no other writer can commit until it ends; a read
  *before* the write would pin an older snapshot, which is why the lock comes first.
- PostgreSQL: the upsert takes the row's lock; under READ COMMITTED each later
  statement sees what concurrent transactions committed before the lock was granted.

So concurrent creates of one project are admitted one after another, each counting the
rows of all that were admitted before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from nimbus.db import Quota, QuotaLock, Server, Volume, VolumeSnapshot
from nimbus.db_compute import flavor_value, join_server_flavors
from nimbus.db_network import (
    FloatingIP,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from nimbus.errors import InvalidSpec, Over, QuotaExceeded

#: The resources of each service, by their OpenStack names.
COMPUTE = ("instances", "cores", "ram")
VOLUME = ("volumes", "gigabytes", "snapshots")
NETWORK = (
    "network",
    "subnet",
    "port",
    "router",
    "floatingip",
    "security_group",
    "security_group_rule",
)

Counter = Callable[[Session, str], int]


def _scalar(s: Session, query: Select[Any]) -> int:
    return int(s.scalar(query) or 0)


def _live_servers(project_id: str) -> ColumnElement[bool]:
    return (Server.project_id == project_id) & Server.deleted_at.is_(None)


def _flavor_sum(name: str) -> Counter:
    """Sum a flavor column over the project's live servers (cores, ram), from a server's
    copy of its flavor where that flavor was deleted."""

    def count(s: Session, project_id: str) -> int:
        query = select(func.sum(flavor_value(name))).select_from(Server)
        return _scalar(s, join_server_flavors(query).where(_live_servers(project_id)))

    return count


def _instances(s: Session, project_id: str) -> int:
    return _scalar(s, select(func.count()).select_from(Server).where(_live_servers(project_id)))


def _soft_deleted(model: type[Volume] | type[VolumeSnapshot], what: ColumnElement[int]) -> Counter:
    """Count or sum over the project's rows not yet deleted (volumes, snapshots)."""

    def count(s: Session, project_id: str) -> int:
        query = select(what).where(model.project_id == project_id, model.deleted_at.is_(None))
        return _scalar(s, query)

    return count


def _gigabytes(s: Session, project_id: str) -> int:
    """Volumes and snapshots together, as Cinder counts ``gigabytes``."""
    volumes = _soft_deleted(Volume, func.sum(Volume.size))
    snapshots = _soft_deleted(VolumeSnapshot, func.sum(VolumeSnapshot.size))
    return volumes(s, project_id) + snapshots(s, project_id)


def _rows(model: Any) -> Counter:
    """Count the project's rows of a networking table (those rows are deleted for real)."""

    def count(s: Session, project_id: str) -> int:
        query = select(func.count()).select_from(model).where(model.project_id == project_id)
        return _scalar(s, query)

    return count


#: How each resource's usage is counted from the rows that hold it.
COUNTERS: dict[str, Counter] = {
    "instances": _instances,
    "cores": _flavor_sum("vcpus"),
    "ram": _flavor_sum("ram"),
    "volumes": _soft_deleted(Volume, func.count()),
    "gigabytes": _gigabytes,
    "snapshots": _soft_deleted(VolumeSnapshot, func.count()),
    "network": _rows(Network),
    "subnet": _rows(Subnet),
    "port": _rows(Port),
    "router": _rows(Router),
    "floatingip": _rows(FloatingIP),
    "security_group": _rows(SecurityGroup),
    "security_group_rule": _rows(SecurityGroupRule),
}


@dataclass(frozen=True)
class Claim:
    """What a request would add to a project: units of each resource."""

    project_id: str
    amounts: Mapping[str, int]


def lock(s: Session, project_id: str) -> None:
    """Take the project's quota lock: must be the transaction's first statement."""
    bump(s, QuotaLock.project_id, project_id, QuotaLock.generation)


def bump(
    s: Session, key: InstrumentedAttribute[str], value: str, counter: InstrumentedAttribute[int]
) -> None:
    """Add one to a counter row (made at 1 if missing) in one statement: a write, so it
    takes SQLite's write lock, or the row's lock on PostgreSQL, for the transaction."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    model = key.class_
    statement = insert(model).values({key.key: value, counter.key: 1})
    s.execute(
        statement.on_conflict_do_update(index_elements=[key], set_={counter.key: counter + 1})
    )


def limits(
    s: Session, project_id: str, defaults: Mapping[str, int], names: Iterable[str]
) -> dict[str, int]:
    """The project's limit of each named resource: its own where set, else the default."""
    wanted = list(names)
    query = select(Quota).where(Quota.project_id == project_id, Quota.resource.in_(wanted))
    own = {row.resource: row.hard_limit for row in s.scalars(query)}
    return {name: own.get(name, defaults[name]) for name in wanted}


def usage(s: Session, project_id: str, names: Iterable[str]) -> dict[str, int]:
    """What the project uses of each named resource, counted now."""
    return {name: COUNTERS[name](s, project_id) for name in names}


def check(s: Session, claim: Claim, defaults: Mapping[str, int]) -> None:
    """Raise ``QuotaExceeded`` naming every resource the claim would take past its limit.

    Call it after ``lock`` in the transaction that then inserts the claimed rows."""
    wanted = {name: n for name, n in claim.amounts.items() if n > 0}
    caps = limits(s, claim.project_id, defaults, wanted)
    overs = []
    for name, n in wanted.items():
        if caps[name] < 0:
            continue
        used = COUNTERS[name](s, claim.project_id)
        if used + n > caps[name]:
            overs.append(Over(name, n, used, caps[name]))
    if overs:
        raise QuotaExceeded(overs=overs)


def claim(s: Session, request: Claim, defaults: Mapping[str, int]) -> None:
    """Lock the project's quota, then check ``request``: the start of every create."""
    lock(s, request.project_id)
    check(s, request, defaults)


def update(s: Session, project_id: str, values: Mapping[str, int], force: bool) -> None:
    """Store the project's own limits; unless ``force``, refuse (400) a limit below what
    the project already uses, as Nova does."""
    lock(s, project_id)
    if not force:
        used = usage(s, project_id, values)
        for name, value in values.items():
            if 0 <= value < used[name]:
                raise InvalidSpec(
                    f"Quota limit {value} for {name} must be greater than or equal to"
                    f" already used and reserved {used[name]}."
                )
    for name, value in values.items():
        s.merge(Quota(project_id=project_id, resource=name, hard_limit=value))


def reset(s: Session, project_id: str, names: Iterable[str]) -> None:
    """Forget the project's own limits of the named resources: the defaults apply again."""
    s.execute(delete(Quota).where(Quota.project_id == project_id, Quota.resource.in_(list(names))))


def projects_with_limits(s: Session, names: Iterable[str]) -> list[str]:
    """The projects with a limit of their own on any of the named resources."""
    query = select(Quota.project_id).where(Quota.resource.in_(list(names))).distinct()
    return sorted(s.scalars(query))
