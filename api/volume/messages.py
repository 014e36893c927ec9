"""Cinder's user messages (3.3; paging and filters from 3.5): why a volume or snapshot
operation failed, written by the activity that marked it failed (see ``nimbus.db_volume``).
List and show for a project's readers, delete for its members; another project's is 404."""

from __future__ import annotations

from operator import attrgetter

from flask import Response, jsonify, request
from sqlalchemy import select

from api import deps
from api.context import current
from api.microversion import at_least, require
from api.policy import allowed, authorize
from api.volume import bp, views
from api.volume.filters import listing, page, text_matches
from nimbus.db import utcnow
from nimbus.db_volume import VolumeMessage
from nimbus.errors import NotFound

_FILTERS = ("resource_uuid", "resource_type", "event_id", "request_id", "message_level")


def _load(message_id: str) -> VolumeMessage:
    """The message if the caller's project owns it (an admin: any); else 404."""
    ctx = current()
    with deps.db().session() as s:
        row = s.get(VolumeMessage, message_id)
    mine = row is not None and row.project_id == ctx.project_id
    if row is None or not (mine or allowed(ctx, "volume:all_projects")):
        raise NotFound(f"Message {message_id} could not be found.")
    return row


@bp.get("/v3/<project_id>/messages")
def list_messages(project_id: str) -> Response:
    require("3.3")
    ctx = current()
    authorize(ctx, "volume:list")
    query = select(VolumeMessage).where(VolumeMessage.expires_at > utcnow())
    if not (request.args.get("all_tenants") and allowed(ctx, "volume:all_projects")):
        query = query.where(VolumeMessage.project_id == ctx.project_id)
    with deps.db().session() as s:
        rows = list(s.scalars(query.order_by(VolumeMessage.created_at.desc())))
    if not at_least("3.5"):  # before paging, every message and no filter
        return jsonify({"messages": [views.message(m) for m in rows]})
    found, total = page(rows, text_matches({k: attrgetter(k) for k in _FILTERS}))
    return jsonify(listing("messages", [views.message(m) for m in found], total))


@bp.get("/v3/<project_id>/messages/<message_id>")
def show_message(project_id: str, message_id: str) -> Response:
    require("3.3")
    authorize(current(), "volume:show")
    return jsonify({"message": views.message(_load(message_id))})


@bp.delete("/v3/<project_id>/messages/<message_id>")
def delete_message(project_id: str, message_id: str) -> tuple[str, int]:
    require("3.3")
    authorize(current(), "volume:message_delete")
    message = _load(message_id)
    with deps.db().session() as s:
        row = s.get(VolumeMessage, message.id)
        if row is not None:
            s.delete(row)
    return "", 204
