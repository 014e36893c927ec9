"""Backing services, in the way of Cloud Foundry's service brokers: the offerings a
project may create instances of, what each instance is made of, and the ``VCAP_SERVICES``
an app bound to instances sees.

An instance's secret (its S3 key pair, its database password) is made by an activity and
written to the instance's row only; workflows and logs name the instance by id. Apps get
the credentials from the metadata service when their instances start
(``vendor_data2.json``), read from the rows at that moment: so they are never in a
workflow's history either. A database server gets its password the same way.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nimbus.db_paas import AVAILABLE, ServiceBinding, ServiceInstance
from nimbus.tokens import cli_safe_secret
from paas import postgresql

OBJECT_STORAGE = "object-storage"
POSTGRESQL = "postgresql"
#: Where an app reaches the object store from its network: the router listens there in
#: the namespace of every app network and passes the connection on to the gateway.
OBJECT_STORE_ADDRESS = "169.254.169.254"
OBJECT_STORE_PORT = 8080
#: The key of Nimbus's own part of ``vendor_data2.json`` (Nova names each part after the
#: vendor data provider that made it).
VENDOR_KEY = "nimbus"


@dataclass(frozen=True)
class Offering:
    """A kind of service: its name, what it is, its plans and the tags apps find it by."""

    name: str
    description: str
    plans: tuple[str, ...]
    tags: tuple[str, ...]

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "plans": list(self.plans),
            "tags": list(self.tags),
        }


OFFERINGS: dict[str, Offering] = {
    OBJECT_STORAGE: Offering(
        OBJECT_STORAGE,
        "A bucket on the cloud's object store (Ceph RADOS Gateway), with an S3 key pair of its own",
        ("default",),
        ("s3", "object-storage"),
    ),
    POSTGRESQL: Offering(
        POSTGRESQL,
        f"A PostgreSQL {postgresql.MAJOR} server of its own on the project's app network, "
        "its data on a block storage volume",
        ("default",),
        ("postgresql", "relational", "sql"),
    ),
}
#: What each plan of a database service gets: a flavor name and the volume's GiB.
DATABASE_PLANS = {"default": ("m1.tiny", 1)}


def gateway_uid(service_id: str) -> str:
    """The object store user that owns a service's bucket (no project's user: the key
    pair reaches this one bucket only)."""
    return f"paas-service-{service_id}"


def bucket_name(service_id: str) -> str:
    """The service's bucket: S3's rules (lower case, at most 63 characters) hold for it."""
    return f"nimbus-{service_id}"


def new_s3_credentials(service_id: str) -> dict[str, str]:
    """A fresh key pair for the service's user, and its bucket."""
    return {
        "access_key_id": "NIMBUS" + secrets.token_hex(7).upper(),
        "secret_access_key": cli_safe_secret(30),
        "bucket": bucket_name(service_id),
    }


def new_database_credentials() -> dict[str, Any]:
    """The app role of a new database server: name, database and a fresh password (hex:
    the server's boot script reads it without a JSON parser). The host comes once the
    server has its address."""
    return {
        "username": postgresql.APP_ROLE,
        "password": secrets.token_hex(24),
        "name": postgresql.APP_DATABASE,
        "port": postgresql.PORT,
    }


def database_server_vendor_data(service: ServiceInstance) -> dict[str, Any]:
    """Nimbus's part of ``vendor_data2.json`` for a database service's own server."""
    password = (service.credentials or {}).get("password", "")
    return {VENDOR_KEY: {postgresql.PASSWORD_KEY: password}}


def binding_credentials(service: ServiceInstance, region: str) -> dict[str, Any]:
    """What an app bound to ``service`` is told: its stored credentials and how to reach
    them from the app's network."""
    creds = dict(service.credentials or {})
    if service.offering == OBJECT_STORAGE:
        endpoint = f"http://{OBJECT_STORE_ADDRESS}:{OBJECT_STORE_PORT}"
        creds |= {"endpoint": endpoint, "region": region}
        creds["uri"] = (
            f"s3://{creds.get('access_key_id', '')}:{creds.get('secret_access_key', '')}"
            f"@{OBJECT_STORE_ADDRESS}:{OBJECT_STORE_PORT}/{creds.get('bucket', '')}"
        )
    if service.offering == POSTGRESQL:
        host = creds.get("host", "")
        creds["hostname"] = host
        creds["uri"] = (
            f"postgres://{creds.get('username', '')}:{creds.get('password', '')}"
            f"@{host}:{creds.get('port', postgresql.PORT)}/{creds.get('name', '')}"
        )
    return creds


def vcap_services(s: Session, app_id: str, region: str) -> dict[str, list[dict[str, Any]]]:
    """Cloud Foundry's ``VCAP_SERVICES`` of the app: its bound, available services
    grouped by offering, each with name, plan, tags and credentials."""
    rows = s.scalars(
        select(ServiceInstance)
        .join(ServiceBinding, ServiceBinding.service_id == ServiceInstance.id)
        .where(ServiceBinding.app_id == app_id, ServiceInstance.status == AVAILABLE)
        .order_by(ServiceInstance.name)
    ).all()
    vcap: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        offering = OFFERINGS.get(row.offering)
        vcap.setdefault(row.offering, []).append(
            {
                "name": row.name,
                "instance_name": row.name,
                "instance_guid": row.id,
                "label": row.offering,
                "plan": row.plan,
                "tags": list(offering.tags) if offering else [],
                "credentials": binding_credentials(row, region),
            }
        )
    return vcap


def vendor_data(vcap: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Nimbus's part of ``vendor_data2.json`` for an app instance."""
    return {VENDOR_KEY: {"VCAP_SERVICES": json.dumps(vcap, sort_keys=True)}}
