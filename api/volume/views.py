"""How volumes and snapshots look in Cinder's v3 responses."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from api import deps
from api.microversion import at_least
from api.timefmt import iso
from nimbus.db import Volume, VolumeAttachment, VolumeSnapshot
from nimbus.db_volume import VolumeMessage

VOLUME_TYPE = "ceph"


def links(kind: str, project_id: str, item_id: str) -> list[dict[str, str]]:
    base = f"{deps.settings().public_url}/volume/v3/{project_id}/{kind}/{item_id}"
    return [{"rel": "self", "href": base}]


def attachments(volume_id: str) -> list[dict[str, Any]]:
    with deps.db().session() as s:
        rows = s.scalars(
            select(VolumeAttachment).where(VolumeAttachment.volume_id == volume_id)
        ).all()
    return [
        {
            "id": r.id,
            "attachment_id": r.id,
            "volume_id": r.volume_id,
            "server_id": r.server_id,
            "device": r.device,
            "host_name": None,
            "attached_at": iso(r.attached_at),
        }
        for r in rows
    ]


def volume(v: Volume, admin: bool = False) -> dict[str, Any]:
    """Cinder's volume; the host and migration attributes only for an admin, as Cinder's
    ``volume_extension:volume_host_attribute`` and ``..._mig_status_attribute`` say."""
    body: dict[str, Any] = {
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "size": v.size,
        "status": v.status,
        "volume_type": VOLUME_TYPE,
        "availability_zone": "nova",
        "bootable": "true" if v.image_id else "false",
        "encrypted": False,
        "multiattach": False,
        "attachments": attachments(v.id),
        "metadata": v.metadata_ or {},
        "snapshot_id": v.snapshot_id,
        "source_volid": None,
        "user_id": v.user_id,
        "os-vol-tenant-attr:tenant_id": v.project_id,
        "replication_status": None,
        "consistencygroup_id": None,
        "created_at": iso(v.created_at),
        "updated_at": iso(v.updated_at),
        "links": links("volumes", v.project_id, v.id),
        **({"volume_image_metadata": {"image_id": v.image_id}} if v.image_id else {}),
    }
    if admin:
        body["os-vol-host-attr:host"] = f"{deps.settings().host_name}@rbd#volumes"
        body["os-vol-mig-status-attr:migstat"] = None
        body["os-vol-mig-status-attr:name_id"] = None
    return body | _versioned(admin)


def _versioned(admin: bool) -> dict[str, Any]:
    """The detail fields later microversions add: 3.13 ``group_id`` (no volume is in a
    group), 3.21 an admin's ``provider_id`` (Cinder's RBD driver sets none either), 3.48
    ``shared_targets`` (RBD needs no host lock) and ``service_uuid``, the volume service's."""
    extra: dict[str, Any] = {}
    if at_least("3.13"):
        extra["group_id"] = None
    if admin and at_least("3.21"):
        extra["provider_id"] = None
    if at_least("3.48"):
        extra["shared_targets"] = False
        extra["service_uuid"] = service_uuid()
    return extra


def service_uuid() -> str:
    """A stable id for this cloud's one volume service, derived from its host name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nimbus-volume:{deps.settings().host_name}"))


def snapshot(s: VolumeSnapshot) -> dict[str, Any]:
    """Cinder's snapshot; 3.14 adds ``group_snapshot_id`` (never in a group here), 3.41
    the creating user."""
    body: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "volume_id": s.volume_id,
        "size": s.size,
        "status": s.status,
        "metadata": {},
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "os-extended-snapshot-attributes:project_id": s.project_id,
        "os-extended-snapshot-attributes:progress": "100%" if s.status == "available" else "0%",
        "links": links("snapshots", s.project_id, s.id),
    }
    if at_least("3.14"):
        body["group_snapshot_id"] = None
    if at_least("3.41"):
        body["user_id"] = s.user_id
    return body


def message(m: VolumeMessage) -> dict[str, Any]:
    """Cinder's user message (3.3)."""
    return {
        "id": m.id,
        "event_id": m.event_id,
        "user_message": m.user_message,
        "message_level": m.message_level,
        "resource_type": m.resource_type,
        "resource_uuid": m.resource_uuid,
        "created_at": iso(m.created_at),
        "guaranteed_until": iso(m.expires_at),
        "request_id": m.request_id,
        "links": links("messages", m.project_id, m.id),
    }
