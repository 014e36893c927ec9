"""Nova's ``os-volume_attachments``: hot-plug volumes into running servers."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from flask import Response, jsonify

from api import deps
from api.compute import bp
from api.compute.create_schema import device_tag, unexpected
from api.compute.servers import load_server
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import authorize
from api.validation import json_body, require_dict, require_str
from api.volume.volumes import load_volume, transition
from nimbus.db import Server, VolumeAttachment, server_attachments
from nimbus.errors import Conflict, InvalidSpec, NotFound
from workflows import starter
from workflows.volume import AttachVolumeInput

ATTACH_WAIT_SECONDS = 120

#: Nova's ``device`` pattern; the device is only a hint there, and Nimbus picks its own.
DEVICE = re.compile(r"^(/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$")


def _view(row: VolumeAttachment) -> dict[str, Any]:
    """Nova's attachment: from 2.70 with its device tag, from 2.79 with
    ``delete_on_termination``. A root volume's tag is the one its mapping named."""
    view: dict[str, Any] = {
        "id": row.volume_id,
        "serverId": row.server_id,
        "volumeId": row.volume_id,
        "device": row.device,
    }
    if at_least("2.70"):
        view["tag"] = row.tag if row.boot_index != 0 else _root_tag(row.server_id)
    if at_least("2.79"):
        view["delete_on_termination"] = bool(row.delete_on_termination)
    return view


def _root_tag(server_id: str) -> str | None:
    with deps.db().session() as s:
        server = s.get(Server, server_id)
    root = (server.root_volume if server else None) or {}
    tag = root.get("tag")
    return tag if isinstance(tag, str) else None


#: Nova's ``volumeAttachment`` keys, and the microversion each arrives at.
_ATTACH_KEYS = {"volumeId": "2.1", "device": "2.1", "tag": "2.49", "delete_on_termination": "2.79"}


def _parse_attach(spec: dict[str, Any]) -> AttachVolumeInput:
    extra = {k for k in spec if k not in _ATTACH_KEYS or not at_least(_ATTACH_KEYS[k])}
    if extra:
        raise unexpected(extra)
    device = spec.get("device")
    if device is not None and (not isinstance(device, str) or not DEVICE.match(device)):
        raise InvalidSpec(f"Invalid input for field/attribute device. Value: {device}.")
    flag = spec.get("delete_on_termination", False)
    if not isinstance(flag, bool):
        raise InvalidSpec("Invalid input for field/attribute delete_on_termination: a boolean.")
    volume_id = require_str(spec, "volumeId", "volumeId")
    return AttachVolumeInput(volume_id, "", device_tag(spec, True), flag)


def _rows(server_id: str) -> list[VolumeAttachment]:
    with deps.db().session() as s:
        return server_attachments(s, server_id)


def _attached(server_id: str, volume_id: str, ctx: RequestContext) -> VolumeAttachment:
    load_server(server_id, ctx)
    row = next((r for r in _rows(server_id) if r.volume_id == volume_id), None)
    if row is None:
        raise NotFound(f"Volume {volume_id} is not attached to server {server_id}.")
    return row


#: Nova attaches to a running or a stopped server; a stopped one gets the disk in its
#: definition only, and sees it at its next start.
ATTACHABLE = ("ACTIVE", "SHUTOFF")


@bp.get("/v2.1/servers/<server_id>/os-volume_attachments")
def list_attachments(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    load_server(server_id, ctx)
    return jsonify({"volumeAttachments": [_view(r) for r in _rows(server_id)]})


@bp.get("/v2.1/servers/<server_id>/os-volume_attachments/<volume_id>")
def show_attachment(server_id: str, volume_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    return jsonify({"volumeAttachment": _view(_attached(server_id, volume_id, ctx))})


@bp.post("/v2.1/servers/<server_id>/os-volume_attachments")
def attach_volume(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:attach_volume")
    spec = require_dict(json_body(), "volumeAttachment", "volumeAttachment")
    asked = _parse_attach(spec)
    volume = load_volume(asked.volume_id, ctx)
    server = load_server(server_id, ctx)
    if server.status not in ATTACHABLE or server.task_state is not None:
        raise Conflict(
            f"Cannot 'attach_volume' instance {server_id} while it is in vm_state"
            f" {server.status}/{server.task_state}: it must be ACTIVE or SHUTOFF."
        )
    if not transition(volume.id, ("available",), "attaching"):
        raise Conflict(
            f"Volume {volume.id} is {volume.status}: only an available volume can be attached."
        )
    arg = dataclasses.replace(asked, volume_id=volume.id, server_id=server_id)
    try:
        deps.bridge().run(
            lambda c: starter.attach_volume(c, server.project_id, arg),
            timeout=ATTACH_WAIT_SECONDS,
        )
    except Exception:
        transition(volume.id, ("attaching",), "available")
        raise
    return jsonify({"volumeAttachment": _view(_attached(server_id, volume.id, ctx))})


@bp.delete("/v2.1/servers/<server_id>/os-volume_attachments/<volume_id>")
def detach_volume(server_id: str, volume_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "compute:servers:detach_volume")
    if _attached(server_id, volume_id, ctx).boot_index == 0:
        raise InvalidSpec("Can't detach root device volume")
    if not transition(volume_id, ("in-use",), "detaching"):
        raise Conflict(f"Volume {volume_id} is busy: try again in a moment.")
    try:
        deps.bridge().run(lambda c: starter.detach_volume(c, ctx.project_id, volume_id, server_id))
    except Exception:
        transition(volume_id, ("detaching",), "in-use")
        raise
    return "", 202
