"""A server's metadata, Nova's ``/servers/{id}/metadata`` (``openstack server set
--property`` and ``unset --property``): read, replace, merge, and one key at a time.

Keys are 1 to 255 characters, values at most 255, and a server holds at most 128 items
(Nova's ``metadata_items``: 403 beyond it). A locked server refuses changes from anyone
but an admin. Metadata reaches the guest's config drive at boot only, as in Nova.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from api import deps
from api.compute import bp
from api.compute.lock_reboot import check_unlocked
from api.compute.quotas import _FIXED
from api.compute.servers import load_server
from api.context import current
from api.errors import Forbidden
from api.policy import authorize
from api.validation import json_body, require_dict, string_map
from nimbus.db import Server
from nimbus.errors import Conflict, InvalidSpec, NotFound

PATH = "/v2.1/servers/<server_id>/metadata"
MAX_ITEMS = _FIXED["metadata_items"]
#: Where Nova lets metadata change: not while the server is being built or deleted.
_CHANGEABLE = {"ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR"}


def check_metadata(value: Any, label: str = "metadata") -> dict[str, str]:
    """A map of 1-to-255-character keys to strings of at most 255 characters."""
    checked = string_map(value, label)
    check_count(len(checked))
    return checked


def check_count(count: int) -> None:
    if count > MAX_ITEMS:
        raise Forbidden(
            f"Quota exceeded for metadata_items: Requested {count}, but the limit is {MAX_ITEMS}."
        )


def _write(server_id: str, change: Any) -> dict[str, str]:
    """Apply ``change(current metadata) -> new`` to the caller's server, within limits."""
    ctx = current()
    authorize(ctx, "compute:servers:update")
    server = load_server(server_id, ctx)
    check_unlocked(server, ctx)
    with deps.db().session() as s:
        row = s.get(Server, server.id)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"Instance {server_id} could not be found.")
        if row.status not in _CHANGEABLE or row.task_state == "deleting":
            raise Conflict(
                f"Cannot 'update metadata' instance {server_id} while it is {row.status}"
            )
        new = change(dict(row.metadata_ or {}))
        check_count(len(new))
        row.metadata_ = new
        return dict(new)


def _read(server_id: str) -> dict[str, str]:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    return dict(load_server(server_id, ctx).metadata_ or {})


@bp.get(PATH)
def show_server_metadata(server_id: str) -> Response:
    return jsonify({"metadata": _read(server_id)})


@bp.put(PATH)
def replace_server_metadata(server_id: str) -> Response:
    """Replace all of it."""
    new = check_metadata(require_dict(json_body(), "metadata", "metadata"))
    return jsonify({"metadata": _write(server_id, lambda _old: new)})


@bp.post(PATH)
def merge_server_metadata(server_id: str) -> Response:
    """Add or change the keys given; the others stay."""
    new = check_metadata(require_dict(json_body(), "metadata", "metadata"))
    return jsonify({"metadata": _write(server_id, lambda old: {**old, **new})})


@bp.get(f"{PATH}/<key>")
def show_server_metadata_item(server_id: str, key: str) -> Response:
    metadata = _read(server_id)
    if key not in metadata:
        raise NotFound("Metadata item was not found")
    return jsonify({"meta": {key: metadata[key]}})


@bp.put(f"{PATH}/<key>")
def set_server_metadata_item(server_id: str, key: str) -> Response:
    meta = check_metadata(require_dict(json_body(), "meta", "meta"), "meta")
    if len(meta) != 1:
        raise InvalidSpec("Request body contains too many items: 'meta' takes exactly one.")
    if key not in meta:
        raise InvalidSpec("Request body and URI mismatch")
    _write(server_id, lambda old: {**old, **meta})
    return jsonify({"meta": meta})


@bp.delete(f"{PATH}/<key>")
def delete_server_metadata_item(server_id: str, key: str) -> tuple[str, int]:
    def without(old: dict[str, str]) -> dict[str, str]:
        if key not in old:
            raise NotFound("Metadata item was not found")
        return {k: v for k, v in old.items() if k != key}

    _write(server_id, without)
    return "", 204
