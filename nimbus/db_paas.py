"""The PaaS tables: apps, packages, builds, releases, instances, routes, events and logs.

An app belongs to a project. Its code arrives as a package (content-addressed by sha256),
a build turns a package into a droplet (a Glance image: runtime plus app), and a release
is immutable: droplet, env, start command and health check. Instances are Nimbus servers;
their rows here say which app, index and release each one serves, as its supervisor
workflow last recorded.
"""

from __future__ import annotations

import datetime as dt
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
)
from sqlalchemy.orm import Mapped, mapped_column

from nimbus.db import Base, new_id, utcnow

#: App states a user asks for.
STARTED, STOPPED = "STARTED", "STOPPED"


class App(Base):
    __tablename__ = "paas_apps"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(63))
    #: STARTED or STOPPED (what the user asked for); DELETING while its delete runs.
    state: Mapped[str] = mapped_column(String(16), default=STOPPED)
    instances: Mapped[int] = mapped_column(Integer, default=1)
    memory_mib: Mapped[int] = mapped_column(Integer, default=256)
    #: The user's start command; ``None``: the buildpack's.
    command: Mapped[str | None] = mapped_column(Text, nullable=True)
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    health_type: Mapped[str] = mapped_column(String(16), default="port")
    health_endpoint: Mapped[str] = mapped_column(String(255), default="/")
    timeout: Mapped[int] = mapped_column(Integer, default=60)
    buildpack: Mapped[str | None] = mapped_column(String(32), nullable=True)
    release_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: The last deployment: DEPLOYING, DEPLOYED or FAILED, and why it failed.
    deployment: Mapped[str | None] = mapped_column(String(16), nullable=True)
    deployment_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Log lines removed to keep the app's log within its bound.
    log_dropped: Mapped[int] = mapped_column(Integer, default=0)
    #: Autoscaling policy (``min``, ``max``, ``requests_per_second`` per instance,
    #: ``cooldown`` seconds), or ``None``.
    autoscaling: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Responses by status class the router gave for the app, all instances ever, and
    #: its request rate at the supervisor's last look (requests per second).
    responses: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    request_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (UniqueConstraint("project_id", "name"),)


class AppRoute(Base):
    """A host name routed to one app; unique across the whole cloud."""

    __tablename__ = "paas_routes"
    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("paas_apps.id"), index=True)


class Package(Base):
    """Uploaded app source a project may build from: ``<paas_dir>/packages/<sha256>.tgz``."""

    __tablename__ = "paas_packages"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Build(Base):
    """Staging of one package: STAGING -> STAGED (with a droplet image) or FAILED."""

    __tablename__ = "paas_builds"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("paas_apps.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    package_sha256: Mapped[str] = mapped_column(String(64))
    #: The host whose package folder holds the package; staging runs there.
    host: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="STAGING")
    buildpack: Mapped[str | None] = mapped_column(String(32), nullable=True)
    runtime: Mapped[str | None] = mapped_column(String(16), nullable=True)
    command: Mapped[str | None] = mapped_column(Text, nullable=True)
    droplet_image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    droplet_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Release(Base):
    """What instances run, fixed once made: droplet, env, start command, health check."""

    __tablename__ = "paas_releases"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("paas_apps.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    build_id: Mapped[str] = mapped_column(ForeignKey("paas_builds.id"))
    droplet_image_id: Mapped[str] = mapped_column(String(36))
    runtime: Mapped[str] = mapped_column(String(16))
    command: Mapped[str] = mapped_column(Text)
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    memory_mib: Mapped[int] = mapped_column(Integer)
    health_type: Mapped[str] = mapped_column(String(16))
    health_endpoint: Mapped[str] = mapped_column(String(255))
    timeout: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("app_id", "version"),)


class Deployment(Base):
    """One change of an app's release, as its supervisor runs it: the strategy, how far it
    got, and how it ended (DEPLOYING, PAUSED, DEPLOYED, FAILED or CANCELED, with why)."""

    __tablename__ = "paas_deployments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(36), index=True)
    release_id: Mapped[str] = mapped_column(String(36))
    #: The release's version: the revision a rollback names.
    revision: Mapped[int] = mapped_column(Integer)
    #: What a failed or cancelled deployment returns to (``None``: nothing ran before).
    previous_release_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    strategy: Mapped[str] = mapped_column(String(16))
    max_in_flight: Mapped[int] = mapped_column(Integer, default=1)
    #: Canary: the share of instances (percent) each step runs before it pauses.
    instance_steps: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: Which of ``instance_steps`` the deployment is at.
    step: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Instance(Base):
    """One running copy of an app: a server, as its supervisor last recorded it."""

    __tablename__ = "paas_instances"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("paas_apps.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    release_id: Mapped[str] = mapped_column(String(36))
    server_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    #: STARTING, RUNNING, CRASHED or STOPPING.
    state: Mapped[str] = mapped_column(String(16), default="STARTING")
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    crashes: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: Responses by status class the router gave for this instance, and its recent
    #: average response time in milliseconds.
    responses: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    response_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AppEvent(Base):
    __tablename__ = "paas_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The workflow step that recorded it (run and activity id): a retry adds nothing.
    step: Mapped[str | None] = mapped_column(String(160), nullable=True, index=True)


class LogLine(Base):
    """One line of an app's log; ``id`` orders them and is what a follower resumes after."""

    __tablename__ = "paas_log_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: ``STG``, ``APP/<index>``, ``RTR``, ``API``...
    source: Mapped[str] = mapped_column(String(32))
    line: Mapped[str] = mapped_column(Text)
    #: The workflow step that wrote it, if one did: a retry of that step adds nothing.
    step: Mapped[str | None] = mapped_column(String(160), nullable=True, index=True)


class LogOffset(Base):
    """How far an instance's app log file has been read into ``paas_log_lines``, and what
    its guest said of the app there: that it started, and how it exited."""

    __tablename__ = "paas_log_offsets"
    server_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_status: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Space(Base):
    """The network, subnet and security group a project's app instances use."""

    __tablename__ = "paas_spaces"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    network_id: Mapped[str] = mapped_column(String(36))
    subnet_id: Mapped[str] = mapped_column(String(36))
    security_group_id: Mapped[str] = mapped_column(String(36))


#: A service instance's states: its create workflow runs, it can be bound, its delete
#: workflow runs, or its create failed (``status_reason`` says why; delete it to retry).
CREATING, AVAILABLE, DELETING, FAILED = "CREATING", "AVAILABLE", "DELETING", "FAILED"


class ServiceInstance(Base):
    """A backing service of a project (a bucket, a database) that apps bind to.

    ``credentials`` is the only place its secret lives: workflows and logs name the
    service by id, and the metadata service hands the credentials to the instances of the
    apps bound to it (``vendor_data2.json``), reading them here at that moment.
    """

    __tablename__ = "paas_services"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(63))
    #: Which offering (``paas.services.OFFERINGS``) and plan it is an instance of.
    offering: Mapped[str] = mapped_column(String(32))
    plan: Mapped[str] = mapped_column(String(32), default="default")
    status: Mapped[str] = mapped_column(String(16), default=CREATING)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: What it is made of, by name or id (no secret): e.g. ``bucket`` and ``user``.
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    credentials: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (UniqueConstraint("project_id", "name"),)


class ServiceBinding(Base):
    """An app bound to a service: the app's instances get the service's credentials in
    ``VCAP_SERVICES`` from their next start on."""

    __tablename__ = "paas_bindings"
    app_id: Mapped[str] = mapped_column(ForeignKey("paas_apps.id"), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("paas_services.id"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
