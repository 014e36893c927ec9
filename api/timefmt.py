"""Timestamps as the OpenStack APIs print them."""

from __future__ import annotations

import datetime as dt


def iso(t: dt.datetime | None) -> str | None:
    """``2026-11-24T01:02:03Z``, or None."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None
