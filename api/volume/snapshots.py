"""Volume snapshots: create, list, show, delete. Changes start workflows."""

from __future__ import annotations

from flask import Response, jsonify, request
from sqlalchemy import select

from api import deps
from api.context import RequestContext, current
from api.lookup import load_owned
from api.microversion import at_least
from api.policy import allowed, authorize
from api.starting import add_and_start
from api.validation import json_body, optional_str, require_dict, require_str
from api.volume import bp, views
from api.volume.filters import Match, dict_arg, listing, page, subset, text_matches
from api.volume.volumes import load_volume
from nimbus.db import Volume, VolumeSnapshot
from nimbus.errors import Conflict
from workflows import starter


def _load(snapshot_id: str, ctx: RequestContext) -> VolumeSnapshot:
    return load_owned(VolumeSnapshot, snapshot_id, ctx, "volume:all_projects", "Snapshot")


@bp.post("/v3/<project_id>/snapshots")
def create_snapshot(project_id: str) -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "volume:snapshot")
    spec = require_dict(json_body(), "snapshot", "snapshot")
    volume = load_volume(require_str(spec, "volume_id", "volume_id"), ctx)
    if volume.status not in ("available", "in-use"):
        raise Conflict(f"Volume {volume.id} is {volume.status}: it cannot be snapshotted now.")
    snap = VolumeSnapshot(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        volume_id=volume.id,
        size=volume.size,
        name=optional_str(spec, "name", "name"),
        description=optional_str(spec, "description", "description"),
    )
    add_and_start(
        snap,
        lambda c: starter.create_snapshot(c, ctx.project_id, volume.id, snap.id),
        {"snapshots": 1, "gigabytes": volume.size},
    )
    return jsonify({"snapshot": views.snapshot(snap)}), 202


def _visible(ctx: RequestContext) -> list[VolumeSnapshot]:
    query = select(VolumeSnapshot).where(VolumeSnapshot.deleted_at.is_(None))
    if not (request.args.get("all_tenants") and allowed(ctx, "volume:all_projects")):
        query = query.where(VolumeSnapshot.project_id == ctx.project_id)
    with deps.db().session() as s:
        return list(s.scalars(query.order_by(VolumeSnapshot.created_at.desc())))


def _matches() -> list[Match]:
    """Name, status and volume filters; 3.22's ``metadata`` filter matches nothing but an
    empty dict, as snapshots carry no metadata here."""
    fields = {
        "name": lambda x: x.name,
        "status": lambda x: x.status,
        "volume_id": lambda x: x.volume_id,
    }
    out = text_matches(fields)
    metadata = dict_arg("metadata") if at_least("3.22") else None
    if metadata:
        out.append(lambda x: subset(metadata, {}))
    return out


@bp.get("/v3/<project_id>/snapshots")
@bp.get("/v3/<project_id>/snapshots/detail")
def list_snapshots(project_id: str) -> Response:
    ctx = current()
    authorize(ctx, "volume:list")
    found, total = page(_visible(ctx), _matches())
    return jsonify(listing("snapshots", [views.snapshot(x) for x in found], total))


@bp.get("/v3/<project_id>/snapshots/<snapshot_id>")
def show_snapshot(project_id: str, snapshot_id: str) -> Response:
    ctx = current()
    authorize(ctx, "volume:show")
    return jsonify({"snapshot": views.snapshot(_load(snapshot_id, ctx))})


@bp.delete("/v3/<project_id>/snapshots/<snapshot_id>")
def delete_snapshot(project_id: str, snapshot_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "volume:snapshot")
    snap = _load(snapshot_id, ctx)
    if snap.status == "restoring":
        raise Conflict(f"Snapshot {snapshot_id} is restoring its volume: wait until it is done.")
    with deps.db().session() as s:
        users = s.scalars(
            select(Volume.id).where(Volume.snapshot_id == snapshot_id, Volume.deleted_at.is_(None))
        ).all()
    if users:
        raise Conflict(f"Snapshot {snapshot_id} has volumes made from it: {', '.join(users)}.")
    deps.bridge().run(
        lambda c: starter.delete_snapshot(c, snap.project_id, snap.volume_id, snapshot_id),
        timeout=120,
    )
    return "", 202
