"""Cinder's list query parameters, one rule each for every list: exact matches, 3.34's
``key~`` (contains, case-insensitive), booleans, dict filters, 3.45's ``count``, and paging.
Unknown parameters are ignored, as the clients' name lookups need."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Sequence
from typing import Any

from flask import request

from api.microversion import at_least
from api.validation import paginate
from nimbus.errors import InvalidSpec

Match = Callable[[Any], bool]

_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


def bool_arg(name: str, default: bool = False) -> bool:
    """A strict boolean query parameter (oslo's ``bool_from_string(strict=True)``)."""
    value = request.args.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise InvalidSpec(f"Invalid input received: {name}={value}")


def dict_arg(name: str) -> dict[str, Any] | None:
    """A dict filter such as ``metadata={'k': 'v'}`` (JSON or a Python literal, as the
    clients send it); None when absent."""
    value = request.args.get(name)
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = None
    if not isinstance(parsed, dict):
        raise InvalidSpec(f"Invalid input received: {name}={value}")
    return parsed


def text_matches(fields: dict[str, Callable[[Any], Any]]) -> list[Match]:
    """Exact ``key=value`` matches, and from 3.34 ``key~=part`` (contains, any case)."""
    out: list[Match] = []
    for key, get in fields.items():
        exact = request.args.get(key)
        if exact:
            out.append(_equals(get, exact))
        part = request.args.get(key + "~") if at_least("3.34") else None
        if part:
            out.append(_contains(get, part.lower()))
    return out


def _equals(get: Callable[[Any], Any], want: str) -> Match:
    return lambda row: str(get(row) or "") == want


def _contains(get: Callable[[Any], Any], part: str) -> Match:
    return lambda row: part in str(get(row) or "").lower()


def subset(wanted: dict[str, Any], have: dict[str, Any]) -> bool:
    """Whether every ``wanted`` key is in ``have`` with the same (string) value."""
    return all(k in have and str(have[k]) == str(v) for k, v in wanted.items())


def page(rows: Sequence[Any], matches: list[Match]) -> tuple[list[Any], int]:
    """The rows that pass every match, paged by ``marker``/``limit``, and how many passed."""
    found = [r for r in rows if all(m(r) for m in matches)]
    ids = [str(r.id) for r in found]
    return paginate(found, ids, request.args.get("marker"), request.args.get("limit")), len(found)


def listing(key: str, items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """A list body; from 3.45 with ``count`` (every match, not only this page) when the
    request asked ``with_count=true``."""
    body: dict[str, Any] = {key: items}
    if at_least("3.45") and bool_arg("with_count"):
        body["count"] = total
    return body
