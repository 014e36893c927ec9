"""The database: engine, sessions and the tables every service shares.

Every resource row carries its project. Reads come straight from here; writes that touch
infrastructure happen in activities, with conditional updates so that a late or retried
activity never resurrects a deleted row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
    make_url,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from nimbus.private import create_private


def utcnow() -> dt.datetime:
    """Now, in UTC, without tzinfo (SQLite keeps none)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME = "default", "Default"
#: The PaaS layer's own user: a client of the public APIs in each project that has apps
#: or services (``nimbus up`` makes it; the API makes it a member of such a project).
PAAS_USER = "paas"

#: The largest value an ``Integer`` column takes: PostgreSQL's INTEGER has 32 bits (SQLite
#: stores 64), so the API refuses more, as Nova, Cinder and Neutron do. Byte counts,
#: which pass it, are ``BigInteger``.
MAX_INT = 2**31 - 1


class Domain(Base):
    """A Keystone domain: a namespace of projects and users (``default`` always exists)."""

    __tablename__ = "domains"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: uuid.uuid4().hex)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: uuid.uuid4().hex)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(String(64), default="default")
    description: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    __table_args__ = (UniqueConstraint("domain_id", "name"),)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: uuid.uuid4().hex)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(String(64), default="default")
    password_hash: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: Failed password checks in a row and when the last one was (Keystone's
    #: ``failed_auth_count`` and ``failed_auth_at``): ``api.identity.lockout`` refuses the
    #: password for a while once there are too many.
    failed_auth_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_auth_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    __table_args__ = (UniqueConstraint("domain_id", "name"),)


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: uuid.uuid4().hex)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"), primary_key=True)


class Token(Base):
    """An issued token. Only a hash of the token is kept, never the token itself."""

    __tablename__ = "tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    #: ``None`` for an unscoped token (a login that has not picked a project yet).
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), nullable=True)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How it was had (``password``, ``token``), and Keystone's audit chain: its own audit
    #: id, then that of the token it was re-scoped from.
    methods: Mapped[list[str] | None] = mapped_column(JSON, default=lambda: ["password"])
    audit_ids: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    #: The application credential it was issued for (its roles bound the token's).
    app_cred_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class Flavor(Base):
    """Nova's flavor. Its extra specs, the projects that may use a private one and the
    copies live servers keep once it is deleted are in ``db_compute``."""

    __tablename__ = "flavors"
    #: Up to 255 characters, as Nova takes them (PostgreSQL enforces the length).
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(Integer)
    disk: Mapped[int] = mapped_column(Integer)
    ephemeral: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Nova's free-text description (2.55); None when never given.
    description: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    #: Nova's network bandwidth factor: shown, never applied; None reads as 1.0.
    rxtx_factor: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)


class Image(Base):
    __tablename__ = "images"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(32), default="queued")
    visibility: Mapped[str] = mapped_column(String(16), default="shared")
    disk_format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    container_format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    checksum: Mapped[str | None] = mapped_column(String(32), nullable=True)
    os_hash_algo: Mapped[str | None] = mapped_column(String(64), nullable=True)
    os_hash_value: Mapped[str | None] = mapped_column(String(128), nullable=True)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    location: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Host(Base):
    """A hypervisor host: a worker polling ``host-<name>`` registers itself here."""

    __tablename__ = "hosts"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    #: Where other hosts send this host's VXLAN traffic.
    vtep_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Whether DHCP servers and routers may be placed here (it carries the external
    #: network); a compute-only host takes servers only.
    network_node: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    #: An admin said the host is down (Nova's ``forced_down``): it is, whatever its
    #: heartbeat, until the admin says otherwise.
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: What the scheduler may place on it (``nimbus.scheduler``), as its worker reports:
    #: ``vcpus * cpu_allocation_ratio`` vCPUs and ``memory_mib * ram_allocation_ratio -
    #: reserved_memory_mib`` MiB.
    cpu_allocation_ratio: Mapped[float] = mapped_column(Float, default=4.0, server_default="4")
    ram_allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    reserved_memory_mib: Mapped[int] = mapped_column(Integer, default=512, server_default="512")
    availability_zone: Mapped[str] = mapped_column(
        String(255), default="nova", server_default="nova"
    )
    #: An admin's (``nimbus host disable``, Nova's ``os-services``): no new servers.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: Bumped by every placement on it, so that concurrent placements queue (the write
    #: locks the row, or the whole database on SQLite) and each sees the others' claims.
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Server(Base):
    __tablename__ = "servers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="BUILD", index=True)
    task_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    #: Nova's free-text description (2.19); None when never given.
    description: Mapped[str | None] = mapped_column(String(255), nullable=True, default=None)
    #: Nova's server tags (2.26), in the order they were added; None read as none.
    tags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True, default=list)
    flavor_id: Mapped[str] = mapped_column(String(255))
    #: The flavor a resize awaiting confirmation came from (a revert goes back to it).
    old_flavor_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    image_id: Mapped[str] = mapped_column(String(36))
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: The zone asked for at create, or else the zone of the host it was placed on.
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    fault: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: A volume-backed server's root: ``{volume_id, source, source_id, size,
    #: delete_on_termination}`` from its block device mapping; ``None`` for an image-backed one.
    root_volume: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Nova's lock: a locked server refuses actions and delete from anyone but an admin
    #: (and its owner, when the owner locked it, may unlock it).
    locked: Mapped[bool | None] = mapped_column(default=False)
    locked_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The key pair named at create, and its public key as it was then (Nova keeps both).
    key_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Shared by the servers one create request made (Nova's multiple create).
    reservation_id: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    #: Base64, as the compute API takes it; handed to the guest on its config drive.
    user_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    launched_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    __table_args__ = (UniqueConstraint("project_id", "idempotency_key"),)


class Volume(Base):
    """A Cinder volume: an RBD image ``volumes/volume-<id>``."""

    __tablename__ = "volumes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="creating", index=True)
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    #: The error a failed operation left, as the driver put it: of any length.
    fault: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)


class VolumeSnapshot(Base):
    """A Cinder snapshot: RBD snapshot ``volumes/volume-<volume id>@snapshot-<id>``."""

    __tablename__ = "volume_snapshots"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="creating")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)


class VolumeAttachment(Base):
    """A volume plugged into a server at a device; one live row per volume."""

    __tablename__ = "volume_attachments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    server_id: Mapped[str] = mapped_column(String(36), index=True)
    device: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    attached_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: 0 for a volume-backed server's root disk, which is never detached on its own.
    boot_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delete_on_termination: Mapped[bool | None] = mapped_column(default=False)
    #: The device tag the attach named (Nova's 2.49), shown from 2.70.
    tag: Mapped[str | None] = mapped_column(String(60), nullable=True)


def server_attachments(s: Session, server_id: str) -> list[VolumeAttachment]:
    """The volumes attached to a server, in the order they were attached (PostgreSQL,
    unlike SQLite, returns rows in no set order without ORDER BY)."""
    query = select(VolumeAttachment).where(VolumeAttachment.server_id == server_id)
    return list(s.scalars(query.order_by(VolumeAttachment.attached_at, VolumeAttachment.id)))


class Quota(Base):
    """A project's own limit of one resource, where an admin set one; without a row the
    configured default applies. Usage is never stored: it is counted from the rows."""

    __tablename__ = "quotas"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaLock(Base):
    """One row per project, written first by every transaction that checks its quota:
    the write serializes those transactions (SQLite's write lock, a row lock elsewhere)."""

    __tablename__ = "quota_locks"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _postgresql_session(dbapi_conn: Any, _record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    dbapi_conn.commit()  # else the pool's rollback on check-in would undo it


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL and a busy timeout so API and worker share it safely.

    A PostgreSQL session keeps time in UTC, as every stored time is (naive UTC), whatever
    the server's own zone; and a pooled connection is checked before use, as the server
    may have restarted since."""
    parsed = make_url(url)
    postgresql = parsed.get_backend_name() == "postgresql"
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if path.parent.is_dir():
            # It holds password hashes and secrets kept in clear (EC2 keys, services'
            # passwords): private from its creation, its journal and WAL files with it.
            create_private(path)
    engine = create_engine(url, pool_pre_ping=postgresql)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif postgresql:
        event.listen(engine, "connect", _postgresql_session)
    return engine


class Database:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_schema(self) -> str:
        """Bring the schema to the models' through the migrations (``nimbus.migrate``),
        keeping every row; return what was done, in a few words."""
        from nimbus import migrate

        return migrate.upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions.begin() as session:
            yield session


# Registers the audit, EC2 credentials, networking, PaaS and volume message tables.
from nimbus import (  # noqa: E402,F401
    db_audit,
    db_compute,
    db_credentials,
    db_drift,
    db_network,
    db_paas,
    db_volume,
)
