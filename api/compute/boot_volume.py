"""Nova's ``block_device_mapping_v2`` on server create: what the root disk is.

Supported, as the openstack CLI and openstacksdk send them: an image as the local root
(the default, and what ``server create --image`` sends), and a volume as the root at boot
index 0, made from an image (``--boot-from-volume N``) or a volume snapshot
(``--snapshot``), or an existing volume (``--volume``). Other mappings (extra volumes,
swap, ephemeral disks) are refused clearly: volumes attach after boot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from api import deps, quotas
from api.compute import create_schema
from api.context import RequestContext
from api.image.images import find_visible_image
from api.lookup import load_owned
from api.microversion import at_least
from api.volume.views import VOLUME_TYPE
from api.volume.volumes import size_field
from nimbus.db import Flavor, Server, Volume, VolumeSnapshot
from nimbus.errors import InvalidSpec, NotFound
from workflows.server_volume import CreateVolumeDataInput, VolumeBootInput

GIB = 1 << 30
_SOURCES = ("image", "volume", "snapshot")


@dataclass(frozen=True)
class RootMapping:
    """The root disk of a volume-backed server, as the request mapped it."""

    source: str
    uuid: str
    size: int | None
    delete_on_termination: bool
    #: The device tag (2.32, 2.42 on), shown on the attachment from 2.70.
    tag: str | None = None


@dataclass(frozen=True)
class RootPlan:
    """A checked mapping: the volume's size and where its data comes from."""

    mapping: RootMapping
    size: int
    image_id: str | None = None
    snapshot_id: str | None = None
    source_volume_id: str | None = None


def _flag(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise InvalidSpec(f"Invalid input for field/attribute {label}: must be a boolean.")


def _size(value: Any) -> int | None:
    """The size of the volume to make, in GiB, within what a volume create allows."""
    if value in (None, ""):
        return None
    return size_field(value, "volume_size")


def _boot_index(bdm: dict[str, Any]) -> int | None:
    value = bdm.get("boot_index")
    if value in (None, "", "none", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidSpec("Invalid input for field/attribute boot_index.") from exc


def parse(spec: dict[str, Any]) -> RootMapping | None:
    """The volume root the request maps, or ``None`` for an image-backed server; 400 for
    a mapping this cloud does not offer."""
    mappings = spec.get("block_device_mapping_v2") or []
    if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
        raise InvalidSpec("'block_device_mapping_v2' must be a list of objects.")
    tags = [create_schema.device_tag(m, create_schema.bdm_tag_allowed()) for m in mappings]
    for m in mappings:
        _check_volume_type(m)
    roots = [m for m in mappings if _boot_index(m) == 0]
    if len(roots) != len(mappings) or len(roots) > 1:
        raise InvalidSpec(
            "Only the root disk (boot_index 0) can be mapped here; attach other volumes"
            " after the server is built."
        )
    if not roots:
        return None
    bdm = roots[0]
    source = bdm.get("source_type")
    destination = bdm.get("destination_type") or ("local" if source == "image" else "volume")
    if source == "image" and destination == "local":
        return None
    if source not in _SOURCES or destination != "volume":
        raise InvalidSpec(
            f"Block device mapping {source!r} to {destination!r} is not supported: the root"
            " is an image, or a volume made from an image or snapshot, or an existing volume."
        )
    uuid = bdm.get("uuid")
    if not isinstance(uuid, str) or not uuid:
        raise InvalidSpec("Block device mapping is invalid: 'uuid' is required.")
    return RootMapping(
        source=source,
        uuid=uuid,
        size=_size(bdm.get("volume_size")),
        delete_on_termination=_flag(
            bdm.get("delete_on_termination", False), "delete_on_termination"
        ),
        tag=tags[mappings.index(bdm)],
    )


def _check_volume_type(bdm: dict[str, Any]) -> None:
    """2.67's ``volume_type`` for a new volume: Nimbus has the one type Cinder lists."""
    if "volume_type" not in bdm:
        return
    if not at_least("2.67"):
        raise create_schema.unexpected({"volume_type"})
    kind = bdm["volume_type"]
    if kind not in (None, VOLUME_TYPE, "__DEFAULT__"):
        raise InvalidSpec(f"Volume type {kind} could not be found.")
    if kind is not None and bdm.get("source_type") == "volume":
        raise InvalidSpec("The volume_type is only for a volume made here, not an existing one.")


def check(mapping: RootMapping, ctx: RequestContext, flavor: Flavor, count: int) -> RootPlan:
    """Check the mapping's source as Nova does before it answers (400 when unusable)."""
    if mapping.source == "volume":
        if count > 1:
            raise InvalidSpec("Multiple instances cannot boot from the same volume.")
        volume = _load(Volume, mapping.uuid, ctx, "Volume")
        if volume.status != "available":
            raise InvalidSpec(f"Volume {volume.id} is {volume.status}: it must be available.")
        return RootPlan(mapping, volume.size)
    if mapping.source == "snapshot":
        snap = _load(VolumeSnapshot, mapping.uuid, ctx, "Snapshot")
        if snap.status != "available":
            raise InvalidSpec(f"Snapshot {snap.id} is {snap.status}: it must be available.")
        size = _at_least(mapping.size, snap.size)
        return RootPlan(mapping, size, snapshot_id=snap.id, source_volume_id=snap.volume_id)
    try:
        image = find_visible_image(mapping.uuid, ctx)
    except NotFound as exc:
        raise InvalidSpec(str(exc)) from exc
    if image.status != "active":
        raise InvalidSpec(f"Image {image.id} is not active.")
    least = max(image.min_disk, math.ceil((image.virtual_size or 0) / GIB), 1)
    return RootPlan(mapping, _at_least(mapping.size or max(flavor.disk, least), least), image.id)


def _at_least(size: int | None, least: int) -> int:
    if size is None:
        return least
    if size < least:
        raise InvalidSpec(f"Volume size {size} GiB is smaller than its source ({least} GiB).")
    return size


def _load(model: type[Any], row_id: str, ctx: RequestContext, label: str) -> Any:
    try:
        return load_owned(model, row_id, ctx, "volume:all_projects", label)
    except NotFound as exc:
        raise InvalidSpec(f"Block device mapping is invalid: {exc}") from exc


def charge(s: Session, project_id: str, plan: RootPlan, count: int) -> None:
    """The new volumes' quota, in the servers' transaction (its lock is already held)."""
    if plan.mapping.source != "volume":
        quotas.check(s, project_id, {"volumes": count, "gigabytes": count * plan.size})


def reserve(s: Session, ctx: RequestContext, plan: RootPlan, server: Server) -> None:
    """The server's root volume row: a new one (``creating``), or the existing one taken
    from ``available`` to ``reserved``; recorded on the server as its ``root_volume``."""
    if plan.mapping.source == "volume":
        volume = s.get(Volume, plan.mapping.uuid)
        if volume is None or volume.status != "available":
            raise InvalidSpec(f"Volume {plan.mapping.uuid} is no longer available.")
        volume.status = "reserved"
    else:
        volume = Volume(
            project_id=ctx.project_id,
            user_id=ctx.user_id,
            size=plan.size,
            name="",
            status="creating",
            image_id=plan.image_id,
            snapshot_id=plan.snapshot_id,
        )
        s.add(volume)
        s.flush()
    server.root_volume = {
        "volume_id": volume.id,
        "source": plan.mapping.source,
        "size": plan.size,
        "image_id": plan.image_id,
        "snapshot_id": plan.snapshot_id,
        "source_volume_id": plan.source_volume_id,
        "delete_on_termination": plan.mapping.delete_on_termination,
        "tag": plan.mapping.tag,
    }


def boot_input(server: Server) -> VolumeBootInput:
    """The boot workflow's input, from what ``reserve`` recorded (so a retry rebuilds it)."""
    root = server.root_volume or {}
    create = None
    if root["source"] != "volume":
        create = CreateVolumeDataInput(
            root["volume_id"],
            root["size"],
            image_id=root.get("image_id"),
            source_volume_id=root.get("source_volume_id"),
            snapshot_id=root.get("snapshot_id"),
        )
    return VolumeBootInput(
        server.id, root["volume_id"], create, bool(root.get("delete_on_termination"))
    )


def unreserve(server: Server) -> None:
    """Undo ``reserve`` for a server whose boot never started: the new volume row goes,
    an existing volume is available again."""
    root = server.root_volume or {}
    if not root:
        return
    with deps.db().session() as s:
        volume = s.get(Volume, root["volume_id"])
        if volume is None:
            return
        if root["source"] == "volume":
            if volume.status == "reserved":
                volume.status = "available"
        elif volume.status == "creating":
            s.delete(volume)
