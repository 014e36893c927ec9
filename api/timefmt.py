"""Timestamps as the OpenStack APIs print them."""

from __future__ import annotations

import datetime as dt

from nimbus.errors import InvalidSpec


def iso(t: dt.datetime | None) -> str | None:
    """``2026-11-24T01:02:03Z``, or None."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def parse_iso(text: str, label: str) -> dt.datetime:
    """An ISO 8601 timestamp from a query, as naive UTC (a time without zone is UTC);
    400 when it is none."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(
            f"Invalid input for query parameters {label}. Value: {text}."
            f" '{text}' is not a 'date-time'"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when
