"""Service instance activities: what each offering is made of, and the instance's row.

Object storage is a gateway user and a bucket (``ObjectStoreAdmin``); PostgreSQL is a
volume and a server made through the cloud's APIs (``activities.paas_databases``).

Every one takes the instance's id alone and reads the rest from its row; the key pair is
made here and written to the row before the gateway learns it, so a retry after a crash
anywhere gives the gateway the same key, and no secret is ever an activity's input or
result (Temporal keeps both in the workflow's history, which its web UI shows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.objectstore.base import ObjectStoreAdmin, S3Key
from activities.paas_databases import DatabaseServers
from nimbus.db import Database
from nimbus.db_paas import AVAILABLE, FAILED, ServiceBinding, ServiceInstance
from nimbus.errors import BackendUnavailable, Conflict, NotFound
from paas.services import OBJECT_STORAGE, POSTGRESQL, gateway_uid, new_s3_credentials


@dataclass(frozen=True)
class ServiceRef:
    service_id: str


@dataclass(frozen=True)
class CreateServiceInput:
    service_id: str
    offering: str


@dataclass(frozen=True)
class ServiceFailed:
    service_id: str
    reason: str


class ServiceActivities:
    """The services' backends (the object store; database servers through the cloud's
    APIs) and rows. Host-independent."""

    def __init__(
        self, admin: ObjectStoreAdmin, db: Database, databases: DatabaseServers | None = None
    ) -> None:
        self.admin = admin
        self.db = db
        self._databases = databases

    @property
    def databases(self) -> DatabaseServers:
        if self._databases is None:
            raise BackendUnavailable("this worker cannot reach the cloud's APIs")
        return self._databases

    def _row(self, service_id: str) -> ServiceInstance:
        with self.db.session() as s:
            row = s.get(ServiceInstance, service_id)
            if row is None:
                raise NotFound(f"service {service_id} does not exist")
            s.expunge(row)
            return row

    def _key(self, service_id: str) -> S3Key:
        """The service's key pair: the one on its row, made and saved first if none."""
        with self.db.session() as s:
            row = s.get(ServiceInstance, service_id)
            if row is None:
                raise NotFound(f"service {service_id} does not exist")
            if row.offering != OBJECT_STORAGE:
                raise Conflict(f"service {service_id} is not object storage")
            if not row.credentials:
                row.credentials = new_s3_credentials(service_id)
                row.resources = {**row.resources, "user": gateway_uid(service_id)}
            creds, name = dict(row.credentials), row.name
        return S3Key(
            gateway_uid(service_id),
            creds["access_key_id"],
            creds["secret_access_key"],
            f"service {name}",
        )

    @activity.defn
    def create_bucket_user(self, inp: ServiceRef) -> None:
        """The service's own gateway user with its key pair; already there is success."""
        self.admin.add_s3_key(self._key(inp.service_id))

    @activity.defn
    def create_bucket(self, inp: ServiceRef) -> None:
        """The service's bucket, owned by its user; already there is success."""
        key = self._key(inp.service_id)
        with self.db.session() as s:
            row = s.get(ServiceInstance, inp.service_id)
            assert row is not None
            bucket = str((row.credentials or {})["bucket"])
            row.resources = {**row.resources, "bucket": bucket}
        self.admin.create_bucket(key, bucket)

    @activity.defn
    def remove_backend(self, inp: ServiceRef) -> None:
        """Remove what the service is made of (its user, keys, bucket and objects); gone
        already is success."""
        row = self._row(inp.service_id)
        if row.offering == OBJECT_STORAGE:
            self.admin.remove_user(gateway_uid(inp.service_id))
        elif row.offering == POSTGRESQL:
            self.databases.remove(inp.service_id)

    @activity.defn
    def create_database_volume(self, inp: ServiceRef) -> None:
        """The database's volume, available (its password is made first, on the row)."""
        self.databases.create_volume(inp.service_id)

    @activity.defn
    def create_database_server(self, inp: ServiceRef) -> None:
        """The database server on the project's app network, booting."""
        self.databases.create_server(inp.service_id)

    @activity.defn
    def attach_database_volume(self, inp: ServiceRef) -> None:
        """Once the server is ACTIVE: its address recorded, the volume attached."""
        self.databases.attach_volume(inp.service_id)

    @activity.defn
    def wait_database_ready(self, inp: ServiceRef) -> None:
        """Until the server says READY (or FAILED, with its reason)."""
        self.databases.wait_ready(inp.service_id)

    @activity.defn
    def mark_available(self, inp: ServiceRef) -> None:
        with self.db.session() as s:
            row = s.get(ServiceInstance, inp.service_id)
            if row is None:
                raise NotFound(f"service {inp.service_id} does not exist")
            row.status, row.status_reason = AVAILABLE, None

    @activity.defn
    def mark_failed(self, inp: ServiceFailed) -> None:
        """The create failed and was undone: the row stays, FAILED with the reason, until
        the user deletes it."""
        with self.db.session() as s:
            row = s.get(ServiceInstance, inp.service_id)
            if row is None:
                return
            row.status, row.status_reason = FAILED, inp.reason[:2000]
            row.credentials = None

    @activity.defn
    def forget_service(self, inp: ServiceRef) -> None:
        """Remove the service's row (and any binding left: the API refuses to delete a
        bound service, so none is, unless an app was bound in between)."""
        with self.db.session() as s:
            s.query(ServiceBinding).filter_by(service_id=inp.service_id).delete()
            row = s.get(ServiceInstance, inp.service_id)
            if row is not None:
                s.delete(row)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.create_bucket_user,
            self.create_bucket,
            self.remove_backend,
            self.create_database_volume,
            self.create_database_server,
            self.attach_database_volume,
            self.wait_database_ready,
            self.mark_available,
            self.mark_failed,
            self.forget_service,
        ]
