"""What every identity resource shares: links, body checks with Keystone's limits, list
filters, and lookups that answer 404.

Limits (Keystone's, or the column's where that is narrower): user names 255 characters;
project, domain and role names 64; descriptions and e-mail addresses 255; passwords 4096
(Keystone's ``max_password_length``). Names must not be blank or hold control characters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import deps
from api.validation import json_body, require_dict, require_str
from nimbus.errors import Conflict, InvalidSpec, NotFound

USER_NAME_MAX = 255
NAME_MAX = 64
DESCRIPTION_MAX = 255
PASSWORD_MAX = 4096

Row = TypeVar("Row")

_FALSE = ("0", "false", "f", "no", "n", "off")


def url(*parts: str) -> str:
    """The public URL of an identity v3 path."""
    return "/".join([deps.settings().public_url + "/identity/v3", *parts])


def links(collection: str, row_id: str) -> dict[str, str]:
    return {"self": url(collection, row_id)}


def collection_links(*parts: str) -> dict[str, str | None]:
    return {"self": url(*parts), "previous": None, "next": None}


def resource_body(key: str) -> dict[str, Any]:
    """The object under ``key`` in the request's JSON body; 400 if there is none."""
    return require_dict(json_body(), key, key)


def update_body(key: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """An update's object under ``key``: 400 unless it names one of ``fields``, so that a
    misplaced or extra-nested body is not taken for an update that changes nothing."""
    spec = resource_body(key)
    if not any(name in spec for name in fields):
        raise InvalidSpec(f"'{key}' must set at least one of: {', '.join(fields)}.")
    return spec


def name_value(spec: dict[str, Any], label: str, max_len: int = NAME_MAX) -> str:
    """A required name: a non-blank string of at most ``max_len`` printable characters."""
    value = require_str(spec, "name", label, max_len)
    if not value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidSpec(f"'{label}' must not be blank or hold control characters.")
    return value


def optional_text(spec: dict[str, Any], key: str, max_len: int = DESCRIPTION_MAX) -> str | None:
    """An optional string (empty allowed); None when absent or null."""
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSpec(f"'{key}' must be a string.")
    if len(value) > max_len:
        raise InvalidSpec(f"'{key}' is too long: at most {max_len} characters.")
    return value


def optional_bool(spec: dict[str, Any], key: str) -> bool | None:
    """An optional JSON boolean; strings such as "true" are refused, as Keystone's schema does."""
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidSpec(f"'{key}' must be a boolean.")
    return value


def optional_id(spec: dict[str, Any], key: str) -> str | None:
    """An optional id reference: a string of at most 64 characters, or null."""
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidSpec(f"'{key}' must be an id (a string of 1 to 64 characters).")
    return value


def query_flag(name: str) -> bool | None:
    """A boolean query filter as Keystone reads one: absent is None, "0"/"false" false."""
    value = request.args.get(name)
    if value is None:
        return None
    return value.lower() not in _FALSE


def get_or_404(s: Session, model: type[Row], row_id: str, label: str) -> Row:
    """The row with this primary key, else ``NotFound`` in Keystone's words."""
    row = s.get(model, row_id)
    if row is None:
        raise NotFound(f"Could not find {label}: {row_id}.")
    return row


@contextmanager
def unique(message: str) -> Iterator[Session]:
    """A session whose commit turns a unique-constraint violation into ``Conflict``: the
    check before an insert can race with another request doing the same."""
    try:
        with deps.db().session() as s:
            yield s
    except IntegrityError as exc:
        raise Conflict(message) from exc
