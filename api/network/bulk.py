"""Neutron's bulk create: ``POST /v2.0/<resources>`` with ``{"<resources>": [{...}, ...]}``
makes them all or none. Each item goes through the single create (its checks, quota and
workflow); if one fails, those already made are deleted again and the error is the
answer, as Neutron's emulated bulk does."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Response, g, jsonify

from api.validation import json_body
from nimbus.errors import InvalidSpec

log = logging.getLogger(__name__)

#: Neutron caps a bulk request as its API workers would: far above what clients send.
MAX_ITEMS = 1000

Create = Callable[[], tuple[Response, int]]


def item(kind: str) -> dict[str, Any] | None:
    """The item of a bulk request being created now, if this is one."""
    current: tuple[str, dict[str, Any]] | None = g.get("bulk_item")
    return current[1] if current is not None and current[0] == kind else None


def bulk(kind: str, plural: str, delete: Callable[[str], Any]) -> Callable[[Create], Create]:
    """Let the create view of ``kind`` take ``{plural: [...]}`` too."""

    def wrap(create: Create) -> Create:
        @functools.wraps(create)
        def view() -> tuple[Response, int]:
            body = json_body()
            if plural not in body or kind in body:
                return create()
            items = body[plural]
            if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
                raise InvalidSpec(f"'{plural}' must be a list of 1 to {MAX_ITEMS} objects.")
            if not all(isinstance(x, dict) for x in items):
                raise InvalidSpec(f"Each of '{plural}' must be an object.")
            made: list[dict[str, Any]] = []
            try:
                for spec in items:
                    g.bulk_item = (kind, spec)
                    response, _ = create()
                    made.append(response.get_json()[kind])
            except Exception:
                _undo(made, delete)
                raise
            finally:
                g.pop("bulk_item", None)
            return jsonify({plural: made}), 201

        return view

    return wrap


def _undo(made: list[dict[str, Any]], delete: Callable[[str], Any]) -> None:
    """Delete what the request made, newest first; a failure is logged and the rest go on."""
    for obj in reversed(made):
        try:
            delete(obj["id"])
        except Exception:  # noqa: BLE001 - undo as much as can be undone
            log.exception("bulk create: could not delete %s again", obj["id"])
