"""Volume actions, ``POST /volumes/{id}/action``: ``os-extend`` and, from 3.40, ``revert``
(to the volume's latest snapshot, Cinder's rules: same size, both available). Each starts a
workflow; a volume in another status is 409 and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from api import deps
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import authorize
from api.validation import json_body, require_dict
from api.volume import bp
from api.volume.volumes import load_volume, size_field, transition
from nimbus.db import VolumeSnapshot
from nimbus.errors import Conflict, InvalidSpec
from workflows import starter

Action = Callable[[RequestContext, str, Any], None]


@bp.post("/v3/<project_id>/volumes/<volume_id>/action")
def volume_action(project_id: str, volume_id: str) -> tuple[str, int]:
    ctx = current()
    body = json_body()
    actions: dict[str, Action] = {"os-extend": _extend}
    if at_least("3.40"):
        actions["revert"] = _revert
    if len(body) != 1 or next(iter(body)) not in actions:
        raise InvalidSpec(
            f"Unsupported volume action: {', '.join(body)}. Supported: {', '.join(actions)}."
        )
    name = next(iter(body))
    actions[name](ctx, volume_id, body)
    return "", 202


def _extend(ctx: RequestContext, volume_id: str, body: dict[str, Any]) -> None:
    authorize(ctx, "volume:extend")
    volume = load_volume(volume_id, ctx)
    new_size = size_field(require_dict(body, "os-extend", "os-extend").get("new_size"), "new_size")
    if new_size <= volume.size:
        raise InvalidSpec(f"New size {new_size} must be greater than the current {volume.size}.")
    if not transition(volume_id, ("available",), "extending"):
        raise Conflict(
            f"Volume {volume_id} is {volume.status}: only an available volume can be extended."
        )
    try:
        deps.bridge().run(
            lambda c: starter.extend_volume(c, volume.project_id, volume_id, new_size)
        )
    except Exception:
        transition(volume_id, ("extending",), "available")
        raise


def _latest_snapshot(volume_id: str) -> VolumeSnapshot | None:
    with deps.db().session() as s:
        query = (
            select(VolumeSnapshot)
            .where(VolumeSnapshot.volume_id == volume_id, VolumeSnapshot.deleted_at.is_(None))
            .order_by(VolumeSnapshot.created_at.desc())
        )
        return s.scalars(query).first()


def _snapshot_transition(snapshot_id: str, old: str, new: str) -> bool:
    with deps.db().session() as s:
        snap = s.get(VolumeSnapshot, snapshot_id)
        if snap is None or snap.deleted_at is not None or snap.status != old:
            return False
        snap.status = new
        return True


def _revert(ctx: RequestContext, volume_id: str, body: dict[str, Any]) -> None:
    """Cinder's revert: 400 unless ``snapshot_id`` names the latest snapshot, of the
    volume's size; 409 unless volume and snapshot are available."""
    authorize(ctx, "volume:revert")
    snapshot_id = require_dict(body, "revert", "revert").get("snapshot_id")
    volume = load_volume(volume_id, ctx)
    latest = _latest_snapshot(volume_id)
    if latest is None:
        raise InvalidSpec(f"Volume {volume_id} doesn't have any snapshots.")
    if snapshot_id != latest.id:
        raise InvalidSpec(
            f"Specified snapshot {snapshot_id} is None or not the latest one of volume {volume_id}."
        )
    if volume.size != latest.size:
        raise InvalidSpec(
            f"Can't revert volume {volume_id} to its latest snapshot {latest.id}. The volume"
            " size must be equal to the snapshot size."
        )
    if not transition(volume_id, ("available",), "reverting"):
        raise Conflict(
            f"Can't revert volume {volume_id} to its latest snapshot {latest.id}. Volume's"
            " status must be 'available'."
        )
    if not _snapshot_transition(latest.id, "available", "restoring"):
        transition(volume_id, ("reverting",), "available")
        raise Conflict(
            f"Can't revert volume {volume_id} to its latest snapshot {latest.id}. Snapshot's"
            " status must be 'available'."
        )
    try:
        deps.bridge().run(
            lambda c: starter.revert_volume(c, volume.project_id, volume_id, latest.id)
        )
    except Exception:
        _snapshot_transition(latest.id, "restoring", "available")
        transition(volume_id, ("reverting",), "available")
        raise
