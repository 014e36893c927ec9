"""What every networking view shares: request fields, list filters and pages, the
transaction that retries on a lost uniqueness race, and running a workflow to its end."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from flask import Response, jsonify, request
from sqlalchemy import Boolean, Integer, Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.client import Client

from api import deps, quotas
from api.context import RequestContext
from api.errors import Forbidden
from api.network.bulk import item as bulk_item
from api.policy import allowed
from api.validation import digits, json_body, require_dict
from nimbus.db import MAX_INT
from nimbus.errors import Conflict, InvalidSpec
from nimbus.quota import Claim
from workflows.net_starter import StillRunning

log = logging.getLogger(__name__)

T = TypeVar("T")

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def is_admin(ctx: RequestContext) -> bool:
    return allowed(ctx, "network:all_projects")


def spec_of(kind: str) -> dict[str, Any]:
    """The ``{kind: {...}}`` object of the request body (or the bulk item being made)."""
    found = bulk_item(kind)
    return found if found is not None else require_dict(json_body(), kind, kind)


def text_field(spec: Mapping[str, Any], key: str, default: str = "", max_len: int = 255) -> str:
    """A string attribute; null means ``default``."""
    value = spec.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidSpec(f"Invalid input for {key}: '{value}' is not a valid string.")
    if len(value) > max_len:
        raise InvalidSpec(
            f"Invalid input for {key}: '{value[:20]}...' exceeds {max_len} characters."
        )
    return value


def bool_field(spec: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean attribute; "true"/"false" strings are accepted, as Neutron converts them."""
    value = spec.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise InvalidSpec(f"Invalid input for {key}: '{value}' cannot be converted to boolean.")


def target_project(spec: Mapping[str, Any], ctx: RequestContext) -> str:
    """The project a new resource belongs to: the caller's, or another one an admin names."""
    wanted = spec.get("project_id") or spec.get("tenant_id") or ctx.project_id
    if not isinstance(wanted, str):
        raise InvalidSpec("Invalid input for project_id: expected a string.")
    if wanted != ctx.project_id and not is_admin(ctx):
        raise Forbidden(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project"
            " in request requires admin privileges."
        )
    return wanted


def filtered(query: Select[Any], columns: Mapping[str, Any]) -> Select[Any]:
    """Apply the query-string filters naming ``columns`` (several values: any of them);
    other parameters are ignored, as clients send filters a server may not know."""
    for key, column in columns.items():
        values: list[Any] = request.args.getlist(key)
        if not values:
            continue
        if isinstance(column.type, Boolean):
            values = [v.lower() in _TRUE for v in values]
        elif isinstance(column.type, Integer):
            values = _integers(key, values)
        query = query.where(column.in_(values))
    return query


def _integers(key: str, values: list[str]) -> list[int]:
    """A filter's values for a number column, 400 for one that is not a number. Values past
    32 bits are dropped: no row holds them, and PostgreSQL would refuse the query."""
    numbers = []
    for value in values:
        try:
            numbers.append(int(value))
        except ValueError:
            raise InvalidSpec(f"Invalid input for {key}: '{value}' is not an integer.") from None
    return [n for n in numbers if -MAX_INT - 1 <= n <= MAX_INT]


def fields(item: dict[str, Any]) -> dict[str, Any]:
    """Only the attributes named by ``?fields=`` (all when none are named)."""
    wanted = request.args.getlist("fields")
    return {k: v for k, v in item.items() if k in wanted} if wanted else item


def listing(collection: str, items: list[dict[str, Any]]) -> Response:
    """A list response paged by ``marker``/``limit``, with a ``next`` link on a full page."""
    marker, limit = request.args.get("marker"), request.args.get("limit")
    if marker:
        ids = [item["id"] for item in items]
        if marker not in ids:
            raise InvalidSpec(f"marker [{marker}] not found")
        items = items[ids.index(marker) + 1 :]
    body: dict[str, Any] = {}
    if limit:
        if not digits(limit) or int(limit) < 1:
            raise InvalidSpec(f"Invalid input for limit: '{limit}' is not a positive integer.")
        full = len(items) > int(limit)
        items = items[: int(limit)]
        if full:
            href = f"{request.base_url}?limit={limit}&marker={items[-1]['id']}"
            body[f"{collection}_links"] = [{"rel": "next", "href": href}]
    body = {collection: [fields(item) for item in items], **body}
    return jsonify(body)


def transaction(fn: Callable[[Session], T], attempts: int = 10, charge: Claim | None = None) -> T:
    """Run ``fn`` in a transaction, again if a unique column (address, MAC, tag, segment)
    was taken by a concurrent request between our choice and our commit. With a
    ``charge``, the transaction first takes the project's quota lock and refuses what
    would pass its quota (``QuotaExceeded``)."""
    for _ in range(attempts):
        try:
            with deps.db().session() as s:
                if charge is not None:
                    quotas.charge(s, charge.project_id, charge.amounts)
                return fn(s)
        except IntegrityError:
            continue
    raise Conflict("Too many concurrent changes: please retry the request.")


def realise(start: Callable[[Client], Awaitable[Any]], undo: Callable[[], None]) -> None:
    """Run a workflow to its end; if it fails or cannot start, ``undo`` what the request
    wrote (rows the workflow already removed are simply not found), then re-raise.

    A workflow still running when the wait ends is left alone: it finishes (or undoes
    itself) on its own, and the caller answers with the rows as they stand."""
    try:
        deps.bridge().run(start)
    except StillRunning:
        log.warning("a networking workflow outlasted its request; it finishes on its own")
    except Exception:
        undo()
        raise
