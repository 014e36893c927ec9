"""Compute tables beside the servers: the key pairs of each user (Nova's ``key_pairs``),
and what hangs off a flavor (extra specs, the projects of a private flavor, the copies
servers keep of a deleted one).

A key pair belongs to a user, not a project, and changes no infrastructure: the public
key is copied onto each server created with it (``servers.key_data``), so deleting the
key pair later leaves running servers as they are, as in Nova. A flavor may be deleted
while servers use it, as in Nova: each live server that names it keeps a copy, so its
reboots, resizes and quota usage go on as before.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from nimbus.db import Base, Flavor, Server, utcnow


class KeyPair(Base):
    __tablename__ = "key_pairs"
    #: An integer, as Nova's is (clients type it so).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("user_id", "name"),)


class FlavorExtraSpec(Base):
    """One extra spec of a flavor (Nova's ``flavor_extra_specs``): a row per key, so two
    admins setting different keys at once both keep theirs."""

    __tablename__ = "flavor_extra_specs"
    flavor_id: Mapped[str] = mapped_column(
        ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class FlavorProject(Base):
    """A project allowed to see and use a private flavor (Nova's ``flavor_projects``)."""

    __tablename__ = "flavor_projects"
    flavor_id: Mapped[str] = mapped_column(
        ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ServerFlavor(Base):
    """A live server's copy of a flavor it names (as ``flavor_id`` or ``old_flavor_id``),
    made when that flavor is deleted: Nova keeps such a copy in every instance."""

    __tablename__ = "server_flavors"
    server_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    flavor_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    vcpus: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(Integer)
    disk: Mapped[int] = mapped_column(Integer)
    ephemeral: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    rxtx_factor: Mapped[float | None] = mapped_column(Float, nullable=True)
    extra_specs: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)


_COPIED = (
    "name",
    "vcpus",
    "ram",
    "disk",
    "ephemeral",
    "swap",
    "is_public",
    "description",
    "rxtx_factor",
)


def extra_specs_of(s: Session, flavor_id: str) -> dict[str, str]:
    """A flavor's extra specs, by key."""
    rows = s.scalars(select(FlavorExtraSpec).where(FlavorExtraSpec.flavor_id == flavor_id))
    return {row.key: row.value for row in rows}


def keep_server_copies(s: Session, flavor: Flavor) -> int:
    """Give every live server naming ``flavor`` its own copy (before the flavor goes);
    returns how many servers got one. A server that has one already keeps it."""
    names = or_(Server.flavor_id == flavor.id, Server.old_flavor_id == flavor.id)
    servers = s.scalars(select(Server.id).where(names, Server.deleted_at.is_(None)))
    fields: dict[str, Any] = {name: getattr(flavor, name) for name in _COPIED}
    specs = extra_specs_of(s, flavor.id)
    made = 0
    for server_id in servers:
        if s.get(ServerFlavor, (server_id, flavor.id)) is None:
            s.add(ServerFlavor(server_id=server_id, flavor_id=flavor.id, extra_specs=specs,
                               **fields))  # fmt: skip
            made += 1
    return made


def forget_copy(s: Session, server_id: str, flavor_id: str) -> None:
    """A server takes the live flavor ``flavor_id`` (a resize to it): an older copy of a
    deleted flavor that had the same id no longer describes it."""
    copy = s.get(ServerFlavor, (server_id, flavor_id))
    if copy is not None:
        s.delete(copy)


def server_extra_specs(s: Session, server_id: str, flavor_id: str) -> dict[str, str]:
    """The extra specs of the flavor a server runs with (of its copy, like
    ``server_flavor``): what Nova embeds in a server's flavor from 2.47."""
    copy = s.get(ServerFlavor, (server_id, flavor_id))
    return dict(copy.extra_specs or {}) if copy is not None else extra_specs_of(s, flavor_id)


def join_server_flavors(query: Select[Any]) -> Select[Any]:
    """Join a query over servers to each server's flavor: to its copy where it has one
    (``flavor_value`` then reads it first), and to the flavor otherwise."""
    own_copy = (ServerFlavor.server_id == Server.id) & (ServerFlavor.flavor_id == Server.flavor_id)
    return query.outerjoin(ServerFlavor, own_copy).outerjoin(Flavor, Flavor.id == Server.flavor_id)


def flavor_value(name: str) -> ColumnElement[Any]:
    """A column of a server's flavor in a query made by ``join_server_flavors``."""
    return func.coalesce(getattr(ServerFlavor, name), getattr(Flavor, name))


def server_flavor(s: Session, server_id: str, flavor_id: str) -> Flavor | None:
    """The flavor a server was built or resized with: its copy once that flavor was
    deleted (even if a new flavor took the same id since), else the flavor itself. A
    copy comes back as a detached ``Flavor`` that is never added to a session."""
    copy = s.get(ServerFlavor, (server_id, flavor_id))
    if copy is None:
        return s.get(Flavor, flavor_id)
    return Flavor(id=flavor_id, **{name: getattr(copy, name) for name in _COPIED})


class ServerGroup(Base):
    """Nova's server group: a policy its members are placed by (``nimbus.scheduler``)."""

    __tablename__ = "server_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    #: affinity, anti-affinity, soft-affinity or soft-anti-affinity.
    policy: Mapped[str] = mapped_column(String(32))
    #: 2.64's rules: ``{"max_server_per_host": N}`` for anti-affinity, else empty.
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ServerGroupMember(Base):
    """A server in a group (at most one group each, as in Nova); the row goes with the
    server's deletion or the group's."""

    __tablename__ = "server_group_members"
    server_id: Mapped[str] = mapped_column(
        ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(
        ForeignKey("server_groups.id", ondelete="CASCADE"), index=True
    )


#: A migration still moving its server: it holds the server's resources on the host the
#: server is not on (the destination until the move, the source until it is confirmed).
MIGRATION_IN_PROGRESS = ("accepted", "pre-migrating", "migrating", "post-migrating", "finished")
#: An evacuation is over once its server runs on the destination (``done``); its source
#: host, when it comes back, destroys the domain it still has and marks it ``completed``.
EVACUATION_DONE = "done"


class Migration(Base):
    """Nova's migration record: one cold migration (``migration``) or evacuation
    (``evacuation``) of a server between two hosts, as ``os-migrations`` lists it.

    A cold migration goes ``pre-migrating`` (destination claimed) -> ``migrating`` (off the
    source) -> ``finished`` (running on the destination, VERIFY_RESIZE) -> ``confirmed``
    or ``reverted``; an evacuation ``accepted`` -> ``pre-migrating`` -> ``done`` ->
    ``completed`` (the source cleaned up). Either ends in ``error`` when it fails."""

    __tablename__ = "migrations"
    #: An integer, as Nova's is (``openstack server migration show`` takes it).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    server_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    #: ``migration`` or ``evacuation``.
    migration_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    source_compute: Mapped[str] = mapped_column(String(255))
    #: The host asked for, until the scheduler confirms it; the one chosen afterwards.
    dest_compute: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: Whether ``dest_compute`` was asked for and skips the scheduler's filters (2.29's
    #: ``force`` on an evacuation).
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    flavor_id: Mapped[str] = mapped_column(String(255))
    #: Why it failed, for the operator (Nova keeps it in the instance's fault).
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


def finished_migration(s: Session, server_id: str) -> Migration | None:
    """The server's cold migration that awaits confirmation or revert, if any."""
    return s.scalars(
        select(Migration).where(
            Migration.server_id == server_id,
            Migration.migration_type == "migration",
            Migration.status == "finished",
        )
    ).first()


def evacuated_from(s: Session, host: str) -> list[Migration]:
    """The evacuations away from ``host`` that it has not cleaned up after."""
    return list(
        s.scalars(
            select(Migration).where(
                Migration.source_compute == host,
                Migration.migration_type == "evacuation",
                Migration.status == EVACUATION_DONE,
            )
        )
    )
