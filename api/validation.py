"""Request body checks that answer 400 with a message saying exactly what is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import request

from api import deps
from nimbus.errors import InvalidSpec, NotFound

#: How deep a request body's arrays and objects may nest (OpenStack's go a few levels).
MAX_NESTING = 32


def json_body() -> dict[str, Any]:
    """The request's JSON object; 400 if the body is missing, malformed or not an object."""
    body = json_value()
    if not isinstance(body, dict):
        raise InvalidSpec("Malformed request body: expected a JSON object.")
    return body


def json_value() -> Any:
    """The request's JSON (``None`` when there is none or it is malformed); 400 when it
    nests deeper than ``MAX_NESTING`` or holds a NUL character, which PostgreSQL cannot
    store: refused alike on every database, before anything is written."""
    try:
        value = request.get_json(silent=True, force=True)
    except RecursionError:  # nested deeper than the decoder goes: malformed, not a crash
        return None
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_NESTING:
            raise InvalidSpec(f"Malformed request body: nested deeper than {MAX_NESTING}.")
        if isinstance(item, str) and "\x00" in item:
            raise InvalidSpec("Malformed request body: a string holds a NUL character.")
        if isinstance(item, dict):
            pending += [(k, depth + 1) for k in item] + [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            pending += [(v, depth + 1) for v in item]
    return value


def check_url() -> None:
    """A NUL character in the URL, which PostgreSQL can neither store nor compare: 404 in
    the path (no resource has such a name), 400 in the query."""
    if "\x00" in request.path:
        raise NotFound("The resource could not be found.")
    if any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        raise InvalidSpec("The query string holds a NUL character.")


def require_dict(body: dict[str, Any], key: str, label: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise InvalidSpec(f"'{label}' is a required object.")
    return value


def require_str(body: dict[str, Any], key: str, label: str, max_len: int = 255) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidSpec(f"'{label}' is a required string.")
    if len(value) > max_len:
        raise InvalidSpec(f"'{label}' is too long: at most {max_len} characters.")
    return value


def optional_str(body: dict[str, Any], key: str, label: str, max_len: int = 255) -> str | None:
    if body.get(key) is None:
        return None
    return require_str(body, key, label, max_len)


def name_field(body: dict[str, Any], key: str = "name", label: str = "name") -> str:
    """A resource name: 1 to 255 characters, no leading or trailing whitespace (Nova's rule)."""
    value = require_str(body, key, label)
    if value != value.strip():
        raise InvalidSpec(
            f"Invalid input for field/attribute {label}: leading or trailing"
            " whitespace is not allowed."
        )
    return value


def ref_id(value: Any, label: str) -> str:
    """An id given directly or as the last part of a link, as Nova accepts flavorRef/imageRef."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidSpec(f"'{label}' is a required string.")
    return value.rstrip("/").rsplit("/", 1)[-1]


T = TypeVar("T")

#: The most digits ``int()`` reads from a string (``sys.get_int_max_str_digits``).
MAX_DIGITS = 4300


def digits(value: Any) -> bool:
    """Whether ``value`` is a string of ASCII digits that ``int()`` reads. ``str.isdigit``
    is not that: it also takes "²", which ``int()`` refuses, and "٣", which it reads as 3."""
    return (
        isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= MAX_DIGITS
    )


def paginate(
    items: Sequence[T], ids: Sequence[str], marker: str | None, limit: str | None
) -> list[T]:
    """OpenStack's marker/limit paging: the items after ``marker``, at most ``limit``."""
    out = list(items)
    if marker:
        if marker not in ids:
            raise InvalidSpec(f"marker [{marker}] not found")
        out = out[list(ids).index(marker) + 1 :]
    if limit is not None:
        if not digits(limit):
            raise InvalidSpec("limit must be a non-negative integer")
        out = out[: int(limit)]
    return out


def next_links(page_length: int, last: str | None) -> list[dict[str, str]]:
    """Nova's ``<collection>_links``: a next link (this query with ``marker`` moved to the
    page's last item) when the page is as long as ``limit`` asked; else none."""
    limit = request.args.get("limit")
    if limit is None or not digits(limit) or int(limit) != page_length or last is None:
        return []
    query = urlencode({**request.args.to_dict(), "marker": last})
    href = f"{deps.settings().public_url}{request.path}?{query}"
    return [{"rel": "next", "href": href}]


def int_query(name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter from ``low`` to ``high``; 400 when it is not one."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidSpec(f"'{name}' must be an integer.") from exc
    if not low <= value <= high:
        raise InvalidSpec(f"'{name}' must be from {low} to {high}.")
    return value


def check_query(allowed: set[str]) -> None:
    """Nova's query schemas from 2.75: a parameter it does not take is a 400."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise InvalidSpec(
            "Invalid input for query parameters: additional properties are not allowed"
            f" ({', '.join(repr(u) for u in unknown)} were unexpected)"
        )


def description_field(
    body: dict[str, Any], label: str = "description", max_len: int = 255
) -> str | None:
    """Nova's descriptions: null, or printable characters, at most 255 for a server's
    (2.19) and 65535 for a flavor's (2.55)."""
    value = body.get(label)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidSpec(
            f"Invalid input for field/attribute {label}: at most {max_len} characters."
        )
    if any(not ch.isprintable() for ch in value):
        raise InvalidSpec(
            f"Invalid input for field/attribute {label}: control characters are not allowed."
        )
    return value


def string_map(value: Any, label: str = "metadata") -> dict[str, str]:
    """A map of 1-to-255-character keys to strings of at most 255 characters: Nova's and
    Cinder's metadata."""
    if not isinstance(value, dict):
        raise InvalidSpec(f"'{label}' must be an object mapping keys to strings.")
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 255:
            raise InvalidSpec(f"'{label}' keys must be strings of 1 to 255 characters.")
        if not isinstance(item, str) or len(item) > 255:
            raise InvalidSpec(f"'{label}' values must be strings of at most 255 characters.")
    return dict(value)
