"""Cinder's volume transfers (``os-volume-transfer``, and ``volume-transfers`` from 3.55):
a project offers an available volume, the offer's one-time auth key goes to another
project out of band, and that project accepts with it, taking the volume and (unless
``no_snapshots``, 3.55) its snapshots, within its own quota.

Only rows change: the RBD images are named after ids, not projects, so nothing is copied
and no workflow runs. The volume waits as ``awaiting-transfer`` (no attach, extend,
snapshot or delete) until the offer is accepted or deleted. 3.57 adds the source and
destination projects and ``accepted`` to the detailed views; 3.59 pages the lists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from api import deps, quotas
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import allowed, authorize
from api.timefmt import iso
from api.validation import json_body, optional_str, require_dict, require_str
from api.volume import bp, views
from api.volume.filters import listing, page, text_matches
from api.volume.volumes import load_volume, transition
from nimbus.db import Volume, VolumeSnapshot, utcnow
from nimbus.db_volume import VolumeTransfer
from nimbus.errors import InvalidSpec, NotFound

PREFIXES = ("/v3/<project_id>/os-volume-transfer", "/v3/<project_id>/volume-transfers")


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256((salt + key).encode()).hexdigest()


def _summary(t: VolumeTransfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "volume_id": t.volume_id,
        "name": t.name,
        "links": views.links("os-volume-transfer", t.project_id, t.id),
    }


def _detail(t: VolumeTransfer) -> dict[str, Any]:
    body = {**_summary(t), "created_at": iso(t.created_at)}
    if at_least("3.55"):
        body["no_snapshots"] = t.no_snapshots
    if at_least("3.57"):
        body["source_project_id"] = t.project_id
        body["destination_project_id"] = t.destination_project_id
        body["accepted"] = t.accepted
    return body


def _load(transfer_id: str, ctx: RequestContext) -> VolumeTransfer:
    """The live transfer if the caller's project offered it (an admin: any); else 404."""
    with deps.db().session() as s:
        t = s.get(VolumeTransfer, transfer_id)
    if t is None or t.deleted_at is not None:
        raise NotFound(f"Transfer {transfer_id} could not be found.")
    if t.project_id != ctx.project_id and not allowed(ctx, "volume:all_projects"):
        raise NotFound(f"Transfer {transfer_id} could not be found.")
    return t


def _listed(detail: bool) -> Response:
    ctx = current()
    authorize(ctx, "volume:list")
    query = select(VolumeTransfer).where(VolumeTransfer.deleted_at.is_(None))
    if not (request.args.get("all_tenants") and allowed(ctx, "volume:all_projects")):
        query = query.where(VolumeTransfer.project_id == ctx.project_id)
    # Before 3.59 oldest first and unpaged; from 3.59 newest first, with marker and limit.
    newest = at_least("3.59")
    order = VolumeTransfer.created_at.desc() if newest else VolumeTransfer.created_at
    with deps.db().session() as s:
        rows = list(s.scalars(query.order_by(order, VolumeTransfer.id)))
    matches = text_matches({"name": lambda t: t.name, "volume_id": lambda t: t.volume_id})
    if newest:
        found, total = page(rows, matches)
    else:
        found = [t for t in rows if all(m(t) for m in matches)]
        total = len(found)
    view = _detail if detail else _summary
    return jsonify(listing("transfers", [view(t) for t in found], total))


def list_transfers(project_id: str) -> Response:
    return _listed(detail=False)


def list_transfers_detail(project_id: str) -> Response:
    return _listed(detail=True)


def create_transfer(project_id: str) -> tuple[Response, int]:
    """Offer an available volume; the answer carries the only copy of the auth key."""
    ctx = current()
    authorize(ctx, "volume:transfer")
    spec = require_dict(json_body(), "transfer", "transfer")
    volume = load_volume(require_str(spec, "volume_id", "volume_id"), ctx)
    name = optional_str(spec, "name", "name")
    no_snapshots = bool(spec.get("no_snapshots")) if at_least("3.55") else False
    if not transition(volume.id, ("available",), "awaiting-transfer"):
        raise InvalidSpec(f"Invalid volume: status must be available, not {volume.status}.")
    key, salt = secrets.token_hex(8), secrets.token_hex(4)
    transfer = VolumeTransfer(
        project_id=volume.project_id,
        volume_id=volume.id,
        name=name,
        salt=salt,
        crypt_hash=_hash(salt, key),
        no_snapshots=no_snapshots,
    )
    with deps.db().session() as s:
        busy = s.scalars(
            select(VolumeSnapshot.id).where(
                VolumeSnapshot.volume_id == volume.id,
                VolumeSnapshot.deleted_at.is_(None),
                VolumeSnapshot.status != "available",
            )
        ).first()
        if busy is None or no_snapshots:
            s.add(transfer)
    if busy is not None and not no_snapshots:
        transition(volume.id, ("awaiting-transfer",), "available")
        raise InvalidSpec(f"Invalid snapshot: snapshot {busy} of the volume is not available.")
    return jsonify({"transfer": {**_detail(transfer), "auth_key": key}}), 202


def show_transfer(project_id: str, transfer_id: str) -> Response:
    ctx = current()
    authorize(ctx, "volume:show")
    return jsonify({"transfer": _detail(_load(transfer_id, ctx))})


def delete_transfer(project_id: str, transfer_id: str) -> tuple[str, int]:
    """Withdraw the offer: the volume is available again."""
    ctx = current()
    authorize(ctx, "volume:transfer")
    transfer = _load(transfer_id, ctx)
    with deps.db().session() as s:
        row = s.get(VolumeTransfer, transfer.id)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"Transfer {transfer_id} could not be found.")
        row.deleted_at = utcnow()
        volume = s.get(Volume, row.volume_id)
        if volume is not None and volume.status == "awaiting-transfer":
            volume.status = "available"
    return "", 202


def accept_transfer(project_id: str, transfer_id: str) -> tuple[Response, int]:
    """Take the volume with the offer's auth key: any project may, as in Cinder; a wrong
    key is 400 and the quota of the accepting project applies."""
    ctx = current()
    authorize(ctx, "volume:transfer_accept")
    key = require_str(require_dict(json_body(), "accept", "accept"), "auth_key", "auth_key")
    with deps.db().session() as s:
        t = s.get(VolumeTransfer, transfer_id)
        if t is None or t.deleted_at is not None:
            raise NotFound(f"Transfer {transfer_id} could not be found.")
        if not hmac.compare_digest(_hash(t.salt, key), t.crypt_hash):
            raise InvalidSpec(f"Attempt to transfer {transfer_id} with invalid auth key.")
        volume = s.get(Volume, t.volume_id)
        if volume is None or volume.status != "awaiting-transfer":
            raise InvalidSpec(f"Invalid volume: volume {t.volume_id} is not awaiting transfer.")
        snaps = [] if t.no_snapshots else _snapshots(s, volume.id)
        gigabytes = volume.size + sum(x.size for x in snaps)
        amounts = {"volumes": 1, "gigabytes": gigabytes, "snapshots": len(snaps)}
        quotas.charge(s, ctx.project_id, amounts)
        for snap in snaps:
            snap.project_id, snap.user_id = ctx.project_id, ctx.user_id
        volume.project_id, volume.user_id, volume.status = ctx.project_id, ctx.user_id, "available"
        t.accepted, t.destination_project_id, t.deleted_at = True, ctx.project_id, utcnow()
        body = _summary(t)
    return jsonify({"transfer": body}), 202


def _snapshots(s: Any, volume_id: str) -> list[VolumeSnapshot]:
    return list(
        s.scalars(
            select(VolumeSnapshot).where(
                VolumeSnapshot.volume_id == volume_id, VolumeSnapshot.deleted_at.is_(None)
            )
        )
    )


for _prefix in PREFIXES:
    bp.get(_prefix)(list_transfers)
    bp.get(_prefix + "/detail")(list_transfers_detail)
    bp.post(_prefix)(create_transfer)
    bp.get(_prefix + "/<transfer_id>")(show_transfer)
    bp.delete(_prefix + "/<transfer_id>")(delete_transfer)
    bp.post(_prefix + "/<transfer_id>/accept")(accept_transfer)
