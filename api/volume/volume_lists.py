"""Volume lists: brief and detailed, with Cinder's filters, and the summary (3.12)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from api import deps
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import allowed, authorize
from api.volume import bp, views
from api.volume.filters import Match, dict_arg, listing, page, subset, text_matches
from api.volume.volumes import load_volume
from nimbus.db import Volume
from nimbus.errors import InvalidSpec

_BOOL_TRUE, _BOOL_FALSE = {"t", "true", "1"}, {"f", "false", "0"}


def _bootable() -> bool | None:
    """The ``bootable`` filter: before 3.2 anything but false means true; from 3.2 only
    true or false spellings are accepted, as Cinder does."""
    value = request.args.get("bootable")
    if value is None:
        return None
    if not at_least("3.2"):
        return value not in ("false", "False")
    if value.lower() in _BOOL_TRUE:
        return True
    if value.lower() in _BOOL_FALSE:
        return False
    raise InvalidSpec(f"Invalid input received: bootable={value}")


def _image_metadata(v: Volume) -> dict[str, Any]:
    return {"image_id": v.image_id} if v.image_id else {}


def _matches() -> list[Match]:
    out = text_matches({"name": lambda v: v.name, "status": lambda v: v.status})
    bootable = _bootable()
    if bootable is not None:
        out.append(lambda v: bool(v.image_id) == bootable)
    metadata = dict_arg("metadata")
    if metadata:
        out.append(lambda v: subset(metadata, v.metadata_ or {}))
    glance = dict_arg("glance_metadata") if at_least("3.4") else None
    if glance:
        out.append(lambda v: subset(glance, _image_metadata(v)))
    if at_least("3.10") and request.args.get("group_id"):
        out.append(lambda v: False)  # no volume is in a group
    return out


def visible(ctx: RequestContext) -> list[Volume]:
    """The caller's live volumes (every project's for an admin asking ``all_tenants``),
    newest first."""
    query = select(Volume).where(Volume.deleted_at.is_(None)).order_by(Volume.created_at.desc())
    if not (request.args.get("all_tenants") and allowed(ctx, "volume:all_projects")):
        query = query.where(Volume.project_id == ctx.project_id)
    with deps.db().session() as s:
        return list(s.scalars(query))


@bp.get("/v3/<project_id>/volumes")
def list_volumes(project_id: str) -> Response:
    ctx = current()
    authorize(ctx, "volume:list")
    found, total = page(visible(ctx), _matches())
    brief = [{"id": v.id, "name": v.name, "links": views.volume(v)["links"]} for v in found]
    return jsonify(listing("volumes", brief, total))


@bp.get("/v3/<project_id>/volumes/detail")
def list_volumes_detail(project_id: str) -> Response:
    ctx = current()
    authorize(ctx, "volume:list")
    found, total = page(visible(ctx), _matches())
    admin = allowed(ctx, "volume:all_projects")
    return jsonify(listing("volumes", [views.volume(v, admin) for v in found], total))


@bp.get("/v3/<project_id>/volumes/summary")
def volume_summary(project_id: str) -> Response:
    """How many volumes match and their total size; from 3.36 every metadata key with its
    distinct values. Added by 3.12: earlier versions read ``summary`` as a volume id."""
    ctx = current()
    authorize(ctx, "volume:list")
    if not at_least("3.12"):
        load_volume("summary", ctx)  # what 3.0 answers: no volume has that id
    matches = _matches()
    found = [v for v in visible(ctx) if all(m(v) for m in matches)]
    summary: dict[str, Any] = {"total_size": sum(v.size for v in found), "total_count": len(found)}
    if at_least("3.36"):
        distinct: dict[str, list[str]] = {}
        for v in found:
            for key, value in (v.metadata_ or {}).items():
                if value not in distinct.setdefault(key, []):
                    distinct[key].append(value)
        summary["metadata"] = distinct
    return jsonify({"volume-summary": summary})
