"""What a PostgreSQL service is made of, through the cloud's public APIs as the PaaS
service user: a volume, a server on the project's app network booted from
``nimbus-paas-postgresql`` (``paas.postgresql``), and a security group that lets the app
network reach it on port 5432.

Every step finds its earlier work first (the volume by its name, the server by its
idempotency key or the id on the service's row), so a retry after a crash never makes a
second one. What it learns is written to the service's row (``resources``, and the host
in ``credentials``); the password is made here and read by the server from the metadata
service, never passed through a workflow.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from activities.paas_cloud import (
    COMPUTE,
    IMAGE,
    NETWORK,
    SPACE_CIDR,
    SPACE_NAME,
    PaasCloudActivities,
    ProjectRef,
)
from nimbus.db_paas import ServiceInstance
from nimbus.errors import BackendUnavailable, Conflict, NotFound
from paas import postgresql
from paas.cloudapi import CloudApi, raise_for
from paas.launch import VENDOR_DATA_URL
from paas.services import DATABASE_PLANS, new_database_credentials

#: The security group of database servers: the app network may reach their port.
SERVICES_GROUP = "paas-services"
#: How many console lines are read when looking for the server's READY or FAILED line.
CONSOLE_LINES = 400


def backend_name(service_id: str) -> str:
    """The server's and the volume's name: unique, and the service's id in it."""
    return f"paas-service-{service_id}"


def volume_path(project_id: str, volume_id: str = "") -> str:
    return f"/volume/v3/{project_id}/volumes" + (f"/{volume_id}" if volume_id else "")


@dataclass(frozen=True)
class DatabaseServer:
    """A database service's row, as far as its steps need it."""

    service_id: str
    project_id: str
    name: str
    plan: str
    resources: dict[str, Any]


class DatabaseServers:
    """The steps of the PostgreSQL offering; each one is safe to run again."""

    def __init__(self, cloud: PaasCloudActivities) -> None:
        self.cloud = cloud
        self.api: CloudApi = cloud.api
        self.db = cloud.db

    def _row(self, service_id: str) -> DatabaseServer:
        """The service, with its credentials made first if it has none."""
        with self.db.session() as s:
            row = s.get(ServiceInstance, service_id)
            if row is None:
                raise NotFound(f"service {service_id} does not exist")
            if row.offering != "postgresql":
                raise Conflict(f"service {service_id} is not a PostgreSQL service")
            if not row.credentials:
                row.credentials = new_database_credentials()
            return DatabaseServer(
                row.id, row.project_id, row.name, row.plan, dict(row.resources or {})
            )

    def _record(self, service_id: str, **found: str) -> None:
        with self.db.session() as s:
            row = s.get(ServiceInstance, service_id)
            if row is None:
                raise NotFound(f"service {service_id} does not exist")
            row.resources = {**(row.resources or {}), **found}

    def _set_host(self, service_id: str, host: str) -> None:
        with self.db.session() as s:
            row = s.get(ServiceInstance, service_id)
            if row is None:
                raise NotFound(f"service {service_id} does not exist")
            row.credentials = {**(row.credentials or {}), "host": host}
            row.resources = {**(row.resources or {}), "host": host}

    # -- create ---------------------------------------------------------------------------

    def create_volume(self, service_id: str) -> None:
        """The data volume (found by name, else made), once it is available."""
        db = self._row(service_id)
        p = db.project_id
        volume_id = db.resources.get("volume_id") or self._find_volume(db)
        if not volume_id:
            _, size = DATABASE_PLANS[db.plan]
            body = {
                "name": backend_name(service_id),
                "description": f"PostgreSQL data of service {db.name}",
                "size": size,
                "metadata": {"nimbus-service-id": service_id},
            }
            made = self.api.json(
                p, "POST", volume_path(p), "create the database volume", json={"volume": body}
            )
            volume_id = str(made["volume"]["id"])
        self._record(service_id, volume_id=volume_id)
        status = self._volume(p, volume_id)["status"]
        if status == "error":
            raise Conflict(f"the database volume {volume_id} could not be created")
        if status != "available" and status != "in-use":
            raise BackendUnavailable(f"the database volume {volume_id} is {status}")

    def _find_volume(self, db: DatabaseServer) -> str:
        p = db.project_id
        found = self.api.find(
            p, f"{volume_path(p)}/detail", "volumes", name=backend_name(db.service_id)
        )
        return str(found[0]["id"]) if found else ""

    def _volume(self, project_id: str, volume_id: str) -> dict[str, Any]:
        what = f"show volume {volume_id}"
        volume = self.api.json(project_id, "GET", volume_path(project_id, volume_id), what)
        return dict(volume["volume"])

    def create_server(self, service_id: str) -> None:
        """The app network and the security group, then the server (its idempotency key is
        the service's id)."""
        db = self._row(service_id)
        p = db.project_id
        network = self.cloud.ensure_space(ProjectRef(p)).network_id
        self._ensure_group(p)
        image = self._image(p)
        flavor_name, _ = DATABASE_PLANS[db.plan]
        flavors = self.api.find(p, f"{COMPUTE}/flavors", "flavors", name=flavor_name)
        if not flavors:
            raise NotFound(f"the database servers' flavor {flavor_name} does not exist")
        script = postgresql.server_script(
            db.resources["volume_id"], postgresql.vendor_password_command(VENDOR_DATA_URL)
        )
        server = {
            "name": backend_name(service_id),
            "imageRef": image,
            "flavorRef": flavors[0]["id"],
            "networks": [{"uuid": network}],
            "security_groups": [{"name": SERVICES_GROUP}],
            "metadata": {"nimbus-service-id": service_id, "nimbus-service": db.name},
            "user_data": base64.b64encode(script.encode()).decode(),
        }
        made = self.api.json(
            p,
            "POST",
            f"{COMPUTE}/servers",
            "create the database server",
            json={"server": server},
            headers={"Idempotency-Key": f"service-{service_id}"},
        )
        self._record(service_id, server_id=str(made["server"]["id"]))

    def _image(self, project_id: str) -> str:
        images = self.api.find(
            project_id, f"{IMAGE}/images", "images", name=postgresql.IMAGE_NAME, status="active"
        )
        if not images:
            raise NotFound(
                f"the image {postgresql.IMAGE_NAME} is not in the image service (nimbus up "
                "imports it)"
            )
        return str(images[0]["id"])

    def _ensure_group(self, project_id: str) -> None:
        p, path = project_id, f"{NETWORK}/security-groups"
        groups = self.api.find(p, path, "security_groups", name=SERVICES_GROUP, project_id=p)
        if groups:
            group = str(groups[0]["id"])
        else:
            body = {
                "name": SERVICES_GROUP,
                "description": "PaaS services, reached from the project's app network",
            }
            made = self.api.json(
                p, "POST", path, "create security group", json={"security_group": body}
            )
            group = str(made["security_group"]["id"])
        rules = self.api.find(
            p, f"{NETWORK}/security-group-rules", "security_group_rules", security_group_id=group
        )
        if any(
            r.get("port_range_min") == postgresql.PORT and r.get("direction") == "ingress"
            for r in rules
        ):
            return
        rule = {
            "security_group_id": group,
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": "tcp",
            "port_range_min": postgresql.PORT,
            "port_range_max": postgresql.PORT,
            "remote_ip_prefix": SPACE_CIDR,
        }
        response = self.api.call(
            p, "POST", f"{NETWORK}/security-group-rules", json={"security_group_rule": rule}
        )
        if response.status_code != 409:  # made meanwhile: fine
            raise_for(response, "create security group rule")

    def attach_volume(self, service_id: str) -> None:
        """Once the server is ACTIVE: its address recorded as the service's host, and the
        data volume attached (already attached is success)."""
        db = self._row(service_id)
        p, server_id, volume_id = (
            db.project_id,
            db.resources["server_id"],
            db.resources["volume_id"],
        )
        server = self._server(p, server_id)
        if server is None:
            raise Conflict(f"the database server {server_id} is gone")
        if server["status"] == "ERROR":
            fault = (server.get("fault") or {}).get("message", "no reason given")
            raise Conflict(f"the database server {server_id} failed to boot: {fault}")
        if server["status"] != "ACTIVE":
            raise BackendUnavailable(f"the database server is {server['status']}")
        self._set_host(service_id, _address(server))
        path = f"{COMPUTE}/servers/{server_id}/os-volume_attachments"
        attached = self.api.json(p, "GET", path, "list the server's volumes")
        if any(a["volumeId"] == volume_id for a in attached["volumeAttachments"]):
            return
        response = self.api.call(
            p, "POST", path, json={"volumeAttachment": {"volumeId": volume_id}}
        )
        raise_for(response, "attach the database volume")

    def wait_ready(self, service_id: str) -> None:
        """Return once the server's console says READY; ``Conflict`` with its reason if it
        says FAILED, ``BackendUnavailable`` (retried) while it says neither."""
        ready, reason = self.readiness(service_id)
        if reason:
            raise Conflict(f"the database server did not start: {reason}")
        if not ready:
            raise BackendUnavailable("the database server is not ready yet")

    def readiness(self, service_id: str) -> tuple[bool, str | None]:
        """What the server's console says: ready, or failed with a reason, or neither yet."""
        db = self._row(service_id)
        p, server_id = db.project_id, db.resources["server_id"]
        server = self._server(p, server_id)
        if server is None:
            raise Conflict(f"the database server {server_id} is gone")
        if server["status"] in ("ERROR", "SHUTOFF"):
            return False, f"the database server is {server['status']}"
        body = {"os-getConsoleOutput": {"length": CONSOLE_LINES}}
        output = self.api.json(
            p, "POST", f"{COMPUTE}/servers/{server_id}/action", "console", json=body
        )
        return postgresql.console_state(str(output.get("output", "")))

    def _server(self, project_id: str, server_id: str) -> dict[str, Any] | None:
        response = self.api.call(project_id, "GET", f"{COMPUTE}/servers/{server_id}")
        if response.status_code == 404:
            return None
        raise_for(response, f"show server {server_id}")
        return dict(response.json()["server"])

    # -- delete ---------------------------------------------------------------------------

    def remove(self, service_id: str) -> None:
        """Delete the server, then (once it is gone) the volume; done when both are gone
        (already gone is success). A step still under way raises ``BackendUnavailable``,
        so the activity is tried again until it is done."""
        with self.db.session() as s:
            row = s.get(ServiceInstance, service_id)
            if row is None:
                return
            p, resources = row.project_id, dict(row.resources or {})
        server_id = resources.get("server_id") or self._find_server(p, service_id)
        if server_id and self._server(p, server_id) is not None:
            response = self.api.call(p, "DELETE", f"{COMPUTE}/servers/{server_id}")
            if response.status_code != 404:
                raise_for(response, f"delete server {server_id}")
            if self._server(p, server_id) is not None:
                raise BackendUnavailable(f"the database server {server_id} is being deleted")
        db = DatabaseServer(service_id, p, "", "default", resources)
        volume_id = resources.get("volume_id") or self._find_volume(db)
        if not volume_id:
            return
        response = self.api.call(p, "GET", volume_path(p, volume_id))
        if response.status_code == 404:
            return
        raise_for(response, f"show volume {volume_id}")
        status = response.json()["volume"]["status"]
        if status in ("available", "error", "error_deleting"):
            response = self.api.call(p, "DELETE", volume_path(p, volume_id))
            if response.status_code == 404:
                return
            raise_for(response, f"delete volume {volume_id}")
        # Done only once the volume is gone: the service's row goes after this step.
        raise BackendUnavailable(f"the database volume {volume_id} is {status}")

    def _find_server(self, project_id: str, service_id: str) -> str:
        name = backend_name(service_id)
        found = self.api.find(project_id, f"{COMPUTE}/servers", "servers", name=name)
        return str(found[0]["id"]) if found else ""


def _address(server: dict[str, Any]) -> str:
    """The server's first fixed address on the app network."""
    for entry in (server.get("addresses") or {}).get(SPACE_NAME, []):
        if entry.get("OS-EXT-IPS:type", "fixed") == "fixed" and entry.get("version", 4) == 4:
            return str(entry["addr"])
    raise BackendUnavailable(f"the database server {server['id']} has no address yet")
