"""Writing a new resource's row and starting the workflow that builds it, as one step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from temporalio.client import Client

from api import deps, quotas


def add_and_start(
    row: Any, start: Callable[[Client], Awaitable[Any]], amounts: Mapping[str, int] | None = None
) -> Any:
    """Insert ``row`` (within its project's quota when it takes ``amounts``), then start
    its workflow; if the workflow cannot start, remove the row again (nothing was built)
    and re-raise, so a refused request changes nothing."""
    with deps.db().session() as s:
        if amounts:
            quotas.charge(s, row.project_id, amounts)
        s.add(row)
    try:
        return deps.bridge().run(start)
    except Exception:
        forget(type(row), row.id)
        raise


def forget(model: type[Any], row_id: str) -> None:
    """Remove a row whose workflow never started."""
    with deps.db().session() as s:
        row = s.get(model, row_id)
        if row is not None:
            s.delete(row)
