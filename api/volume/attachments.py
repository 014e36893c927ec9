"""Cinder's attachments API (3.27; ``os-complete`` 3.44; ``mode`` 3.54), over the
attachments Nimbus records when the compute API plugs a volume into a server.

Reads list and show those records (``openstack volume attachment list/show``). Writes are
answered honestly. In Cinder, creating or updating an attachment only reserves the volume
and exports a connection for the caller (Nova) to plug in itself; Nimbus never hands out a
connection: its attach workflow plugs the volume into the server's domain, and a
reservation with nothing to follow it would leave the volume ``reserved`` for nobody. So
create and update are refused (400) with the route that does attach, once the body and
the volume are checked. Delete is refused too: detaching must unplug the disk from the
running domain, which ``DELETE /servers/{id}/os-volume_attachments/{volume}`` does.
``os-complete`` marks an attachment attached; every attachment Nimbus records is attached
already, so it answers 204 and changes nothing (an unknown attachment is 404).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from activities.storage.block import volume_ref
from api import deps
from api.context import RequestContext, current
from api.microversion import at_least, require
from api.policy import allowed, authorize
from api.timefmt import iso
from api.validation import json_body, require_dict, require_str
from api.volume import bp
from api.volume.filters import listing, page, text_matches
from api.volume.volumes import load_volume
from nimbus.db import Volume, VolumeAttachment
from nimbus.errors import InvalidSpec, NotFound

PATH = "/v3/<project_id>/attachments"
#: Where to attach and detach instead.
_USE_COMPUTE = (
    "Nimbus attaches and detaches volumes through the compute API only:"
    " POST /compute/v2.1/servers/{server_id}/os-volume_attachments"
    " (openstack server add volume) and DELETE"
    " /compute/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}"
    " (openstack server remove volume)."
)


def _summary(row: VolumeAttachment) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": "attached",
        "instance": row.server_id,
        "volume_id": row.volume_id,
    }


def _detail(row: VolumeAttachment) -> dict[str, Any]:
    return {
        **_summary(row),
        "attached_at": iso(row.attached_at),
        "detached_at": "",
        "attach_mode": "rw",
        "connection_info": {
            "driver_volume_type": "rbd",
            "data": {"name": str(volume_ref(row.volume_id))},
        },
    }


def _visible(ctx: RequestContext) -> list[VolumeAttachment]:
    """Attachments of the caller's project's volumes (every project's for an admin asking
    ``all_tenants``), newest first."""
    query = (
        select(VolumeAttachment)
        .join(Volume, Volume.id == VolumeAttachment.volume_id)
        .where(Volume.deleted_at.is_(None))
        .order_by(VolumeAttachment.attached_at.desc(), VolumeAttachment.id)
    )
    if not (request.args.get("all_tenants") and allowed(ctx, "volume:all_projects")):
        query = query.where(Volume.project_id == ctx.project_id)
    with deps.db().session() as s:
        return list(s.scalars(query))


def _listed(detail: bool) -> Response:
    require("3.27")
    ctx = current()
    authorize(ctx, "volume:list")
    fields = {
        "volume_id": lambda r: r.volume_id,
        "instance_id": lambda r: r.server_id,
        "status": lambda r: "attached",
        "attach_status": lambda r: "attached",
    }
    found, total = page(_visible(ctx), text_matches(fields))
    view = _detail if detail else _summary
    return jsonify(listing("attachments", [view(r) for r in found], total))


@bp.get(PATH)
def list_attachments(project_id: str) -> Response:
    return _listed(detail=False)


@bp.get(PATH + "/detail")
def list_attachments_detail(project_id: str) -> Response:
    return _listed(detail=True)


def _load(attachment_id: str, ctx: RequestContext) -> VolumeAttachment:
    """The attachment if its volume is the caller's (an admin's: any); else 404."""
    with deps.db().session() as s:
        row = s.get(VolumeAttachment, attachment_id)
    if row is None:
        raise NotFound(f"VolumeAttachment {attachment_id} could not be found.")
    try:
        load_volume(row.volume_id, ctx)
    except NotFound:
        raise NotFound(f"VolumeAttachment {attachment_id} could not be found.") from None
    return row


@bp.get(PATH + "/<attachment_id>")
def show_attachment(project_id: str, attachment_id: str) -> Response:
    require("3.27")
    ctx = current()
    authorize(ctx, "volume:show")
    return jsonify({"attachment": _detail(_load(attachment_id, ctx))})


@bp.post(PATH)
def create_attachment(project_id: str) -> Response:
    """Checked as Cinder checks it, then refused: see the module's docstring."""
    require("3.27")
    ctx = current()
    authorize(ctx, "volume:attach")
    spec = require_dict(json_body(), "attachment", "attachment")
    allowed_keys = {"instance_uuid", "connector", "volume_uuid"}
    if at_least("3.54"):
        allowed_keys.add("mode")
        if spec.get("mode", "rw") not in ("rw", "ro"):
            raise InvalidSpec("Invalid input for field/attribute mode: must be 'rw' or 'ro'.")
    extra = sorted(set(spec) - allowed_keys)
    if extra:
        raise InvalidSpec(f"Invalid input for field/attribute attachment: unexpected {extra}.")
    load_volume(require_str(spec, "volume_uuid", "volume_uuid"), ctx)
    raise InvalidSpec(_USE_COMPUTE)


@bp.put(PATH + "/<attachment_id>")
def update_attachment(project_id: str, attachment_id: str) -> Response:
    require("3.27")
    ctx = current()
    authorize(ctx, "volume:attach")
    _load(attachment_id, ctx)
    raise InvalidSpec(_USE_COMPUTE)


@bp.delete(PATH + "/<attachment_id>")
def delete_attachment(project_id: str, attachment_id: str) -> Response:
    require("3.27")
    ctx = current()
    authorize(ctx, "volume:attach")
    _load(attachment_id, ctx)
    raise InvalidSpec(_USE_COMPUTE)


@bp.post(PATH + "/<attachment_id>/action")
def attachment_action(project_id: str, attachment_id: str) -> tuple[str, int]:
    """``os-complete`` (3.44): the attachment is attached already; nothing else exists."""
    require("3.44")
    ctx = current()
    authorize(ctx, "volume:attach")
    body = json_body()
    if set(body) != {"os-complete"}:
        raise InvalidSpec(f"Unsupported attachment action: {', '.join(body) or 'none'}.")
    _load(attachment_id, ctx)
    return "", 204
