"""Nova's key pairs (``/os-keypairs``): per user, generated or imported.

Shapes by microversion: ``type`` from 2.2 (and create answers 201, delete 204, where 2.1
answered 200 and 202); an admin names another user with ``user_id`` from 2.10;
``limit``/``marker`` page the list from 2.35, with a ``keypairs_links`` next link when a
page is full; from 2.75 unknown query parameters are refused. Key pairs change no
infrastructure, so they are plain database writes, as in Nova.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api import deps
from api.compute import bp
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import authorize
from api.timefmt import iso
from api.validation import check_query, json_body, next_links, paginate, require_dict
from nimbus.db_compute import KeyPair
from nimbus.errors import Conflict, InvalidSpec, NotFound, QuotaExceeded
from nimbus.sshkeys import fingerprint, generate

#: Nova's default ``key_pairs`` quota, per user.
MAX_PER_USER = 100
_NAME = re.compile(r"^[A-Za-z0-9 _.@-]{1,255}$")


def _owner(ctx: RequestContext, asked: Any) -> str:
    """The user whose key pairs a call is about: the caller, or (admin, 2.10) another."""
    if asked in (None, "") or asked == ctx.user_id:
        return ctx.user_id
    if not at_least("2.10"):
        return ctx.user_id
    authorize(ctx, "compute:keypairs:other_users")
    return str(asked)


def _queried_owner(ctx: RequestContext, *also: str) -> str:
    """``_owner`` from the query, which from 2.75 holds ``user_id`` and ``also`` only."""
    if at_least("2.75"):
        check_query({"user_id", *also})
    return _owner(ctx, request.args.get("user_id"))


def _brief(key: KeyPair) -> dict[str, Any]:
    view = {"name": key.name, "public_key": key.public_key, "fingerprint": key.fingerprint}
    if at_least("2.2"):
        view["type"] = key.type
    return view


def _detail(key: KeyPair) -> dict[str, Any]:
    return {
        **_brief(key),
        "id": key.id,
        "user_id": key.user_id,
        "created_at": iso(key.created_at),
        "updated_at": None,
        "deleted": False,
        "deleted_at": None,
    }


def find_keypair(user_id: str, name: str) -> KeyPair | None:
    with deps.db().session() as s:
        return s.scalars(
            select(KeyPair).where(KeyPair.user_id == user_id, KeyPair.name == name)
        ).first()


def _load(user_id: str, name: str) -> KeyPair:
    key = find_keypair(user_id, name)
    if key is None:
        raise NotFound(f"Keypair {name} not found for user {user_id}")
    return key


@bp.get("/v2.1/os-keypairs")
def list_keypairs() -> Response:
    ctx = current()
    authorize(ctx, "compute:keypairs:list")
    owner = _queried_owner(ctx, "limit", "marker")
    with deps.db().session() as s:
        keys = list(
            s.scalars(select(KeyPair).where(KeyPair.user_id == owner).order_by(KeyPair.name))
        )
    if not at_least("2.35"):
        return jsonify({"keypairs": [{"keypair": _brief(k)} for k in keys]})
    keys = paginate(keys, [k.name for k in keys], request.args.get("marker"),
                    request.args.get("limit"))  # fmt: skip
    body: dict[str, Any] = {"keypairs": [{"keypair": _brief(k)} for k in keys]}
    links = next_links(len(keys), keys[-1].name if keys else None)
    if links:
        body["keypairs_links"] = links
    return jsonify(body)


@bp.get("/v2.1/os-keypairs/<keypair_name>")
def show_keypair(keypair_name: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:keypairs:show")
    owner = _queried_owner(ctx)
    return jsonify({"keypair": _detail(_load(owner, keypair_name))})


def _fields(spec: dict[str, Any]) -> tuple[str, str, str | None]:
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or name.strip() != name:
        raise InvalidSpec("Keypair name contains unsafe characters")
    kind = spec.get("type", "ssh")
    if kind != "ssh":
        raise InvalidSpec(f"Keypair type {kind!r} is not supported: only 'ssh' keys are.")
    public = spec.get("public_key")
    if public is not None and not isinstance(public, str):
        raise InvalidSpec("Keypair data is invalid: 'public_key' must be a string")
    return name, kind, public


@bp.post("/v2.1/os-keypairs")
def create_keypair() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "compute:keypairs:create")
    spec = require_dict(json_body(), "keypair", "keypair")
    name, kind, public = _fields(spec)
    owner = _owner(ctx, spec.get("user_id"))
    private = None
    if public is None:
        made = generate(f"Generated-by-Nimbus {name}")
        public, private = made.public_key, made.private_key
    key = KeyPair(user_id=owner, name=name, type=kind, public_key=public.strip(),
                  fingerprint=fingerprint(public))  # fmt: skip
    try:
        with deps.db().session() as s:
            count = s.scalar(select(func.count()).where(KeyPair.user_id == owner)) or 0
            if count >= MAX_PER_USER:
                raise QuotaExceeded("Quota exceeded, too many key pairs.")
            s.add(key)
    except IntegrityError as exc:
        raise Conflict(f"Key pair '{name}' already exists.") from exc
    view = {**_brief(key), "user_id": owner}
    if private is not None:
        view["private_key"] = private
    return jsonify({"keypair": view}), 201 if at_least("2.2") else 200


@bp.delete("/v2.1/os-keypairs/<keypair_name>")
def delete_keypair(keypair_name: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "compute:keypairs:delete")
    key = _load(_queried_owner(ctx), keypair_name)
    with deps.db().session() as s:
        row = s.get(KeyPair, key.id)
        if row is not None:
            s.delete(row)
    return "", 204 if at_least("2.2") else 202
