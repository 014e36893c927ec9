"""Volumes: create (blank, from an image, from a snapshot), list, show, update, extend,
delete; and volume types. Changes start workflows."""

from __future__ import annotations

import math
from typing import Any

from flask import Response, jsonify
from sqlalchemy import select, update

from api import deps
from api.context import RequestContext, current
from api.image.images import find_visible_image
from api.lookup import load_owned
from api.microversion import at_least
from api.policy import allowed, authorize
from api.starting import add_and_start
from api.validation import digits, json_body, optional_str, require_dict, string_map
from api.volume import bp, views
from api.volume.filters import bool_arg, dict_arg, subset
from nimbus.db import Volume, VolumeSnapshot
from nimbus.errors import Conflict, InvalidSpec, NotFound
from workflows import starter

MAX_SIZE_GIB = 16384
GIB = 1 << 30


def load_volume(volume_id: str, ctx: RequestContext) -> Volume:
    """The volume if the caller may see it; another project's is 404."""
    return load_owned(Volume, volume_id, ctx, "volume:all_projects", "Volume")


def transition(volume_id: str, old: tuple[str, ...], new: str) -> bool:
    """Move the volume from one of ``old`` to ``new`` atomically; False if it was not."""
    with deps.db().session() as s:
        result = s.execute(
            update(Volume)
            .where(Volume.id == volume_id, Volume.status.in_(old), Volume.deleted_at.is_(None))
            .values(status=new)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def size_field(value: Any, label: str = "size") -> int:
    """A size in GiB: a positive integer (digits in a string are accepted, as Cinder does)."""
    if isinstance(value, str) and digits(value.strip()):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIZE_GIB:
        raise InvalidSpec(
            f"Invalid input received: '{label}' must be an integer from 1 to"
            f" {MAX_SIZE_GIB} (GiB), not {value!r}."
        )
    return value


def _source(spec: dict[str, Any], ctx: RequestContext) -> tuple[dict[str, Any], int]:
    """The volume's source fields and the smallest size it allows."""
    if spec.get("source_volid") or spec.get("backup_id"):
        raise InvalidSpec("Cloning a volume or restoring a backup is not supported yet.")
    if spec.get("snapshot_id"):
        snap = _snapshot(str(spec["snapshot_id"]), ctx)
        return {"snapshot_id": snap.id, "source_volume_id": snap.volume_id}, snap.size
    image_ref = spec.get("imageRef") or spec.get("image_id")
    if image_ref:
        image = find_visible_image(str(image_ref), ctx)
        if image.status != "active":
            raise InvalidSpec(f"Image {image.id} is not active.")
        least = max(image.min_disk, math.ceil((image.virtual_size or 0) / GIB))
        return {"image_id": image.id}, least
    return {}, 1


def _snapshot(snapshot_id: str, ctx: RequestContext) -> VolumeSnapshot:
    snap = load_owned(VolumeSnapshot, snapshot_id, ctx, "volume:all_projects", "Snapshot")
    if snap.status != "available":
        raise InvalidSpec(f"Snapshot {snapshot_id} is {snap.status}, not available.")
    return snap


#: The keys of Cinder's volume create body; 3.13 adds ``group_id``, 3.47 ``backup_id``.
_CREATE_KEYS = {
    "name",
    "description",
    "display_name",
    "display_description",
    "volume_type",
    "metadata",
    "snapshot_id",
    "source_volid",
    "consistencygroup_id",
    "size",
    "availability_zone",
    "multiattach",
    "image_id",
    "imageRef",
}
_UPDATE_KEYS = {"name", "description", "metadata", "display_name", "display_description"}


def _unexpected(found: set[str], allowed: set[str], label: str) -> None:
    """400 naming the keys a body may not have (jsonschema's words, as Cinder answers)."""
    extra = sorted(found - allowed)
    if extra:
        raise InvalidSpec(
            f"Invalid input for field/attribute {label}. Additional properties are not"
            f" allowed ({', '.join(repr(k) for k in extra)} {'was' if len(extra) == 1 else 'were'}"
            " unexpected)"
        )


def _create_spec() -> dict[str, Any]:
    """The ``volume`` of a create body; from 3.53 no key beyond the documented ones."""
    body = json_body()
    spec = require_dict(body, "volume", "volume")
    if at_least("3.53"):
        _unexpected(set(body), {"volume", "OS-SCH-HNT:scheduler_hints"}, "body")
        allowed = _CREATE_KEYS | {"group_id", "backup_id"}
        _unexpected(set(spec), allowed, "volume")
    if at_least("3.13") and spec.get("group_id"):
        raise NotFound(f"Group {spec['group_id']} could not be found.")
    return spec


def _update_spec() -> dict[str, Any]:
    """The ``volume`` of an update body: only name, description and metadata; from 3.53
    at least one of them."""
    spec = require_dict(json_body(), "volume", "volume")
    _unexpected(set(spec), _UPDATE_KEYS, "volume")
    if at_least("3.53") and not spec:
        raise InvalidSpec(
            "Invalid input for field/attribute volume: one of name, description,"
            " display_name, display_description or metadata is required."
        )
    return spec


def _check_type(spec: dict[str, Any]) -> None:
    kind = spec.get("volume_type")
    if kind not in (None, "", views.VOLUME_TYPE, "__DEFAULT__"):
        raise NotFound(f"Volume type {kind} could not be found.")
    if spec.get("multiattach"):
        raise InvalidSpec("Multi-attach volumes are not supported.")


def _metadata(spec: dict[str, Any]) -> dict[str, str]:
    return string_map(spec.get("metadata") or {})


@bp.post("/v3/<project_id>/volumes")
def create_volume(project_id: str) -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "volume:create")
    spec = _create_spec()
    _check_type(spec)
    source, least = _source(spec, ctx)
    size = size_field(spec["size"]) if spec.get("size") is not None else least
    if size < least:
        raise InvalidSpec(f"Volume size {size} GiB is smaller than its source ({least} GiB).")
    volume = Volume(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        size=size,
        name=optional_str(spec, "name" if "name" in spec else "display_name", "name"),
        description=optional_str(
            spec, "description" if "description" in spec else "display_description", "description"
        ),
        metadata_=_metadata(spec),
        status="creating",
        image_id=source.get("image_id"),
        snapshot_id=source.get("snapshot_id"),
    )
    add_and_start(
        volume,
        lambda c: starter.create_volume(c, ctx.project_id, volume.id, size, **source),
        {"volumes": 1, "gigabytes": size},
    )
    return jsonify({"volume": views.volume(volume, _admin(ctx))}), 202


def _admin(ctx: RequestContext) -> bool:
    """Whether the caller sees Cinder's admin-only volume attributes."""
    return allowed(ctx, "volume:all_projects")


@bp.get("/v3/<project_id>/volumes/<volume_id>")
def show_volume(project_id: str, volume_id: str) -> Response:
    ctx = current()
    authorize(ctx, "volume:show")
    return jsonify({"volume": views.volume(load_volume(volume_id, ctx), _admin(ctx))})


@bp.put("/v3/<project_id>/volumes/<volume_id>")
def update_volume(project_id: str, volume_id: str) -> Response:
    ctx = current()
    authorize(ctx, "volume:update")
    spec = _update_spec()
    load_volume(volume_id, ctx)
    with deps.db().session() as s:
        volume = s.get(Volume, volume_id)
        assert volume is not None
        if "name" in spec or "display_name" in spec:
            volume.name = optional_str(spec, "name" if "name" in spec else "display_name", "name")
        if "description" in spec or "display_description" in spec:
            key = "description" if "description" in spec else "display_description"
            volume.description = optional_str(spec, key, "description")
        if "metadata" in spec:
            volume.metadata_ = _metadata(spec)
    return jsonify({"volume": views.volume(load_volume(volume_id, ctx), _admin(ctx))})


@bp.delete("/v3/<project_id>/volumes/<volume_id>")
def delete_volume(project_id: str, volume_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "volume:delete")
    volume = load_volume(volume_id, ctx)
    if at_least("3.23") and bool_arg("force"):
        # Cinder's force skips the status check; here every status it would skip means an
        # operation's workflow still owns the volume (or a server has it), and deleting
        # under it would leave data behind, so force only asks for an admin.
        authorize(ctx, "volume:force_delete")
    with deps.db().session() as s:
        snaps = s.scalars(
            select(VolumeSnapshot.id).where(
                VolumeSnapshot.volume_id == volume_id, VolumeSnapshot.deleted_at.is_(None)
            )
        ).all()
    if snaps:
        raise Conflict(f"Volume {volume_id} has snapshots ({', '.join(snaps)}): delete them first.")
    if not transition(volume_id, ("available", "error", "error_deleting"), "deleting"):
        raise Conflict(
            f"Volume {volume_id} is {volume.status}: only an available volume (or"
            " one in error) can be deleted; detach it first."
        )
    try:
        deps.bridge().run(lambda c: starter.delete_volume(c, volume.project_id, volume_id))
    except Exception:
        transition(volume_id, ("deleting",), volume.status)
        raise
    return "", 202


_TYPE = {
    "id": "ceph",
    "name": views.VOLUME_TYPE,
    "description": "Ceph RBD",
    "is_public": True,
    "extra_specs": {"volume_backend_name": "ceph"},
}


@bp.get("/v3/<project_id>/types")
def list_types(project_id: str) -> Response:
    """The one type; from 3.52 filtered by ``extra_specs``."""
    authorize(current(), "volume:types")
    wanted = dict_arg("extra_specs") if at_least("3.52") else None
    specs: Any = _TYPE["extra_specs"]
    return jsonify({"volume_types": [_TYPE] if subset(wanted or {}, specs) else []})


@bp.get("/v3/<project_id>/types/<type_id>")
def show_type(project_id: str, type_id: str) -> Response:
    authorize(current(), "volume:types")
    if type_id not in ("default", _TYPE["id"]):
        raise NotFound(f"Volume type {type_id} could not be found.")
    return jsonify({"volume_type": _TYPE})
