"""The ``rebuild`` server action (``openstack server rebuild [--image I] [--name N]
[--property k=v]``): the server is built again from an image on its host, keeping its
id, ports and addresses. Allowed from ACTIVE, SHUTOFF and ERROR, as in Nova. A
volume-backed server keeps its root volume as it is and is rebuilt only with the image
that volume came from (Nova before 2.93). ``adminPass`` is taken and ignored, as Nova does
with instance passwords off: log in with a key pair. From 2.54 ``key_name`` and from 2.57
``user_data`` are set anew."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import jsonify

from api import deps
from api.compute import views
from api.compute.create_schema import trusted_certificates, unexpected
from api.compute.flavors import flavor_of_server
from api.compute.server_metadata import check_metadata
from api.compute.servers import (
    _check_image,
    key_data_for,
    key_name_field,
    load_server,
    user_data_field,
)
from api.context import RequestContext
from api.image.images import find_visible_image
from api.microversion import at_least
from api.policy import authorize
from api.validation import description_field, name_field, ref_id
from nimbus.db import Server, Volume
from nimbus.errors import Conflict, InvalidSpec, NotFound
from workflows import starter
from workflows.server_rebuild import REBUILDING, RebuildInput

_FROM = ("ACTIVE", "SHUTOFF", "ERROR")
_FIELDS = {"imageRef", "name", "metadata", "adminPass", "preserve_ephemeral", "OS-DCF:diskConfig"}
_FIELDS |= {"accessIPv4", "accessIPv6"}


#: Rebuild fields that exist from a microversion on (Nova's rebuild schemas).
_SINCE = {
    "description": "2.19",
    "key_name": "2.54",
    "user_data": "2.57",
    "trusted_image_certificates": "2.63",
}


def _known() -> set[str]:
    known = _FIELDS | {key for key, since in _SINCE.items() if at_least(since)}
    return known if at_least("2.57") else known | {"personality"}


def _key(args: dict[str, Any], ctx: RequestContext) -> tuple[str | None, str | None] | None:
    """2.54's ``key_name``: the caller's key pair to put in the rebuilt guest, or ``None``
    to rebuild without one; ``None`` (no change) when the request does not name it."""
    if "key_name" not in args:
        return None
    name = key_name_field(args)
    return name, key_data_for(ctx, name)


def rebuild(server: Server, ctx: RequestContext, args: Any) -> Any:
    authorize(ctx, "compute:servers:rebuild")
    if not isinstance(args, dict):
        raise InvalidSpec("'rebuild' must be an object naming the imageRef.")
    unknown = set(args) - _known()
    if unknown:
        raise unexpected(unknown)
    if args.get("personality") not in (None, []):
        raise InvalidSpec("'personality' is not supported by this cloud.")
    trusted_certificates(args)
    key = _key(args, ctx)
    user_data = user_data_field(args) if "user_data" in args else server.user_data
    if args.get("preserve_ephemeral") not in (None, False):
        raise InvalidSpec("preserve_ephemeral is not supported: servers have no ephemeral disk.")
    image_id = ref_id(args.get("imageRef"), "imageRef")
    name = name_field(args) if "name" in args else None
    metadata = check_metadata(args["metadata"]) if "metadata" in args else None
    description = description_field(args)
    if server.root_volume:
        _check_same_image(server, image_id, ctx)
    else:
        _check_image(image_id, flavor_of_server(server), ctx)
    with deps.db().session() as s:
        row = s.get(Server, server.id)
        if row is None or row.status not in _FROM or row.task_state is not None or not row.host:
            state = f"{row.status}/{row.task_state}" if row else "gone"
            raise Conflict(f"Cannot 'rebuild' instance {server.id} while it is in vm_state {state}")
        saved = _Saved(
            row.status,
            row.image_id,
            row.name,
            dict(row.metadata_ or {}),
            row.key_name,
            row.key_data,
            row.user_data,
        )
        stopped = row.status == "SHUTOFF"
        row.status, row.task_state = "REBUILD", REBUILDING
        row.image_id = row.image_id if row.root_volume else image_id
        row.name = name if name is not None else row.name
        row.metadata_ = metadata if metadata is not None else row.metadata_
        if key is not None:
            row.key_name, row.key_data = key
        row.user_data = user_data
    inp, on_volume = RebuildInput(server.id, stopped), bool(server.root_volume)
    try:
        deps.bridge().run(lambda c: starter.start_rebuild(c, server.project_id, inp, on_volume))
    except Exception:
        _restore(server.id, saved)
        raise
    if "description" in args:
        with deps.db().session() as s:
            row = s.get(Server, server.id)
            if row is not None:
                row.description = description
    return jsonify({"server": views.full(load_server(server.id, ctx), ctx)}), 202


def _check_same_image(server: Server, image_id: str, ctx: RequestContext) -> None:
    """A volume-backed server is rebuilt on its root volume as it is (Nova before 2.93
    re-images no volume), so only with the image that volume was made from."""
    try:
        find_visible_image(image_id, ctx)
    except NotFound as exc:
        raise InvalidSpec(str(exc)) from exc
    root = server.root_volume or {}
    with deps.db().session() as s:
        volume = s.get(Volume, root.get("volume_id"))
        origin = volume.image_id if volume is not None else None
    if origin != image_id:
        raise InvalidSpec(
            f"Image {image_id} is unacceptable: Unable to rebuild with a different image for a"
            " volume-backed server."
        )


@dataclass(frozen=True)
class _Saved:
    """What a rebuild request changes on the row, to put back if it never starts."""

    status: str
    image_id: str
    name: str
    metadata: dict[str, str]
    key_name: str | None
    key_data: str | None
    user_data: str | None


def _restore(server_id: str, saved: _Saved) -> None:
    """Put back what the request changed, if the rebuild never started."""
    with deps.db().session() as s:
        row = s.get(Server, server_id)
        if row is not None and row.task_state == REBUILDING:
            row.status, row.image_id, row.name = saved.status, saved.image_id, saved.name
            row.metadata_, row.user_data = saved.metadata, saved.user_data
            row.key_name, row.key_data = saved.key_name, saved.key_data
            row.task_state = None
