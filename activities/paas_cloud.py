"""PaaS activities that use the cloud's public APIs as the PaaS service user: the app
network of a project, instances (servers), droplet images.

Each finds its own earlier work before it makes anything: a server by its idempotency key,
an image, network or group by its name. So a retry after a crash never makes a second one.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.paas_records import SpaceRecord
from nimbus.db import Database
from nimbus.db_paas import Space
from nimbus.errors import BackendUnavailable, Conflict
from paas.cloudapi import CloudApi, raise_for, stream

#: What each project's app network is called, and its range (any range will do: every
#: tenant network is isolated, and the router reaches it from its DHCP namespace).
SPACE_NAME = "paas-apps"
SPACE_CIDR = "10.250.0.0/22"
#: The port every instance's app listens on (``$PORT``).
APP_PORT = 8080

COMPUTE, NETWORK, IMAGE = "/compute/v2.1", "/networking/v2.0", "/image/v2"


@dataclass(frozen=True)
class ProjectRef:
    project_id: str


@dataclass(frozen=True)
class CreateInstanceInput:
    project_id: str
    instance_id: str
    name: str
    image_id: str
    flavor_id: str
    network_id: str
    user_data: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateInstanceResult:
    server_id: str


@dataclass(frozen=True)
class DeleteServerInput:
    project_id: str
    server_id: str


@dataclass(frozen=True)
class UploadDropletInput:
    project_id: str
    build_id: str
    path: str


@dataclass(frozen=True)
class UploadDropletResult:
    image_id: str


@dataclass(frozen=True)
class DeleteImageInput:
    project_id: str
    image_id: str


def droplet_image_name(build_id: str) -> str:
    return f"droplet-{build_id}"


class PaasCloudActivities:
    """Activities over ``CloudApi``; ``db`` keeps which network a project's apps use."""

    def __init__(self, api: CloudApi, db: Database, poll_seconds: float = 0.5) -> None:
        self.api = api
        self.db = db
        self.poll_seconds = poll_seconds

    @activity.defn
    def ensure_space(self, inp: ProjectRef) -> SpaceRecord:
        """The project's app network, subnet and security group (port 8080 open from the
        subnet, where the router's namespace sits), found by name or made."""
        p = inp.project_id
        network = self._find_or_create(p, "networks", {"name": SPACE_NAME})
        subnet = self._find_or_create(
            p,
            "subnets",
            {"name": SPACE_NAME, "network_id": network, "cidr": SPACE_CIDR, "ip_version": 4},
        )
        group = self._find_or_create(p, "security_groups", {"name": SPACE_NAME})
        self._ensure_rule(p, group)
        with self.db.session() as s:
            s.merge(
                Space(project_id=p, network_id=network, subnet_id=subnet, security_group_id=group)
            )
        return SpaceRecord(p, network, subnet, group)

    def _find_or_create(self, project_id: str, kind: str, body: dict[str, Any]) -> str:
        singular, path = kind[:-1], f"{NETWORK}/{kind.replace('_', '-')}"
        found = self.api.find(project_id, path, kind, name=body["name"], project_id=project_id)
        if found:
            return str(found[0]["id"])
        made = self.api.json(project_id, "POST", path, f"create {singular}", json={singular: body})
        return str(made[singular]["id"])

    def _ensure_rule(self, project_id: str, group_id: str) -> None:
        rules = self.api.find(
            project_id,
            f"{NETWORK}/security-group-rules",
            "security_group_rules",
            security_group_id=group_id,
        )
        if any(
            r.get("port_range_min") == APP_PORT and r.get("direction") == "ingress" for r in rules
        ):
            return
        rule = {
            "security_group_id": group_id,
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": "tcp",
            "port_range_min": APP_PORT,
            "port_range_max": APP_PORT,
            "remote_ip_prefix": SPACE_CIDR,
        }
        response = self.api.call(
            project_id,
            "POST",
            f"{NETWORK}/security-group-rules",
            json={"security_group_rule": rule},
        )
        if response.status_code != 409:  # made meanwhile: fine
            raise_for(response, "create security group rule")

    @activity.defn
    def create_instance(self, inp: CreateInstanceInput) -> CreateInstanceResult:
        """Boot the instance's server; the instance id is its idempotency key, so a retry
        finds the server the first attempt made."""
        server = {
            "name": inp.name,
            "imageRef": inp.image_id,
            "flavorRef": inp.flavor_id,
            "networks": [{"uuid": inp.network_id}],
            "security_groups": [{"name": SPACE_NAME}],
            "metadata": inp.metadata,
            "user_data": base64.b64encode(inp.user_data.encode()).decode(),
        }
        made = self.api.json(
            inp.project_id,
            "POST",
            f"{COMPUTE}/servers",
            "create the instance's server",
            json={"server": server},
            headers={"Idempotency-Key": inp.instance_id},
        )
        return CreateInstanceResult(str(made["server"]["id"]))

    @activity.defn
    def delete_server(self, inp: DeleteServerInput) -> None:
        """Delete an instance's server; one already gone is success."""
        response = self.api.call(inp.project_id, "DELETE", f"{COMPUTE}/servers/{inp.server_id}")
        if response.status_code != 404:
            raise_for(response, f"delete server {inp.server_id}")

    @activity.defn
    def upload_droplet(self, inp: UploadDropletInput) -> UploadDropletResult:
        """Register the droplet disk as a private image of the project and wait until it is
        active; an earlier attempt's image is reused if complete, else replaced."""
        name = droplet_image_name(inp.build_id)
        for image in self.api.find(inp.project_id, f"{IMAGE}/images", "images", name=name):
            if image["status"] == "active":
                return UploadDropletResult(str(image["id"]))
            self.delete_image(DeleteImageInput(inp.project_id, str(image["id"])))
        image_id = self._create_image(inp.project_id, name, inp.build_id)
        response = self.api.call(
            inp.project_id,
            "PUT",
            f"{IMAGE}/images/{image_id}/file",
            data=stream(Path(inp.path)),
            headers={"Content-Type": "application/octet-stream"},
        )
        raise_for(response, "upload the droplet")
        self._wait_active(inp.project_id, image_id)
        return UploadDropletResult(image_id)

    def _create_image(self, project_id: str, name: str, build_id: str) -> str:
        body = {
            "name": name,
            "disk_format": "raw",
            "container_format": "bare",
            "visibility": "private",
            "tags": ["nimbus-droplet"],
        }
        made = self.api.json(
            project_id, "POST", f"{IMAGE}/images", "create the droplet image", json=body
        )
        return str(made["id"])

    def _wait_active(self, project_id: str, image_id: str) -> None:
        while True:
            image = self.api.json(project_id, "GET", f"{IMAGE}/images/{image_id}", "show image")
            if image["status"] == "active":
                return
            if image["status"] in ("killed", "deleted", "deactivated"):
                raise Conflict(
                    f"the droplet image {image_id} could not be imported ({image['status']})"
                )
            activity.heartbeat(image["status"])
            time.sleep(self.poll_seconds)

    @activity.defn
    def delete_image(self, inp: DeleteImageInput) -> None:
        """Delete a droplet image; one already gone is success, one still in use (its
        instances are still being deleted) is retried."""
        response = self.api.call(inp.project_id, "DELETE", f"{IMAGE}/images/{inp.image_id}")
        if response.status_code == 404:
            return
        if response.status_code == 409:
            raise BackendUnavailable(f"droplet image {inp.image_id} is still in use")
        raise_for(response, f"delete image {inp.image_id}")

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.ensure_space,
            self.create_instance,
            self.delete_server,
            self.upload_droplet,
            self.delete_image,
        ]
