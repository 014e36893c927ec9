"""A volume's metadata, Cinder's ``/volumes/{id}/metadata`` (``openstack volume set
--property`` and ``unset --property``): read, merge (POST), replace (PUT), one key at a time.

From 3.15 a read carries an ``ETag`` (the MD5 of the ``{"metadata": ...}`` body) and a
replace, whole or one key, with ``If-Match`` naming another answers 412 and changes
nothing: the lost-update check Cinder added. A volume being deleted refuses changes (400).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from flask import Response, jsonify, request

from api import deps
from api.context import current
from api.microversion import at_least
from api.policy import authorize
from api.validation import json_body, require_dict, string_map
from api.volume import bp
from api.volume.volumes import load_volume
from nimbus.db import Volume
from nimbus.errors import InvalidSpec, NimbusError, NotFound

PATH = "/v3/<project_id>/volumes/<volume_id>/metadata"


class PreconditionFailed(NimbusError):
    http_status = 412


def etag(metadata: dict[str, str]) -> str:
    """Cinder's ETag of a volume's metadata."""
    data = json.dumps({"metadata": metadata}).encode()
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _read(volume_id: str) -> dict[str, str]:
    ctx = current()
    authorize(ctx, "volume:show")
    return dict(load_volume(volume_id, ctx).metadata_ or {})


def _write(
    volume_id: str, change: Callable[[dict[str, str]], dict[str, str]], checked: bool
) -> dict[str, str]:
    """Apply ``change(current) -> new`` to the caller's volume; with ``checked``, from 3.15,
    only if ``If-Match`` (when sent) names the current metadata."""
    ctx = current()
    authorize(ctx, "volume:update")
    volume = load_volume(volume_id, ctx)
    if volume.status in ("deleting", "error_deleting"):
        raise InvalidSpec(f"Invalid volume: volume {volume_id} is {volume.status}.")
    with deps.db().session() as s:
        row = s.get(Volume, volume.id)
        assert row is not None
        now = dict(row.metadata_ or {})
        stale = request.if_match and etag(now) not in request.if_match
        if checked and at_least("3.15") and stale:
            raise PreconditionFailed("The metadata changed since it was read.")
        row.metadata_ = change(now)
        return dict(row.metadata_)


def _body_metadata() -> dict[str, str]:
    return string_map(json_body().get("metadata"), "metadata")


@bp.get(PATH)
def list_volume_metadata(project_id: str, volume_id: str) -> Response:
    metadata = _read(volume_id)
    response = jsonify({"metadata": metadata})
    if at_least("3.15"):
        response.headers["ETag"] = etag(metadata)
    return response


@bp.post(PATH)
def merge_volume_metadata(project_id: str, volume_id: str) -> Response:
    new = _body_metadata()
    return jsonify({"metadata": _write(volume_id, lambda now: {**now, **new}, checked=False)})


@bp.put(PATH)
def replace_volume_metadata(project_id: str, volume_id: str) -> Response:
    new = _body_metadata()
    return jsonify({"metadata": _write(volume_id, lambda now: new, checked=True)})


@bp.get(PATH + "/<key>")
def show_volume_metadata_item(project_id: str, volume_id: str, key: str) -> Response:
    metadata = _read(volume_id)
    if key not in metadata:
        raise NotFound(f"Metadata with key {key} could not be found for volume {volume_id}.")
    return jsonify({"meta": {key: metadata[key]}})


@bp.put(PATH + "/<key>")
def set_volume_metadata_item(project_id: str, volume_id: str, key: str) -> Response:
    meta = string_map(require_dict(json_body(), "meta", "meta"), "meta")
    if key not in meta:
        raise InvalidSpec("Request body and URI mismatch")
    if len(meta) > 1:
        raise InvalidSpec("Request body contains too many items")
    _write(volume_id, lambda now: {**now, **meta}, checked=True)
    return jsonify({"meta": meta})


@bp.delete(PATH + "/<key>")
def delete_volume_metadata_item(project_id: str, volume_id: str, key: str) -> tuple[str, int]:
    def without(now: dict[str, str]) -> dict[str, str]:
        if key not in now:
            raise NotFound(f"Metadata with key {key} could not be found for volume {volume_id}.")
        return {k: v for k, v in now.items() if k != key}

    _write(volume_id, without, checked=False)
    return "", 200
