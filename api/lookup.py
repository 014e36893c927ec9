"""Finding a project's resource: another project's, like a missing one, answers 404."""

from __future__ import annotations

from typing import Any, TypeVar

from api import deps
from api.context import RequestContext
from api.policy import allowed
from nimbus.errors import NotFound

Row = TypeVar("Row")


def load_owned(
    model: type[Row],
    row_id: str,
    ctx: RequestContext,
    all_projects: str,
    label: str,
    deleted: bool = False,
) -> Row:
    """The live row (or, with ``deleted``, a deleted one too) if the caller's project owns
    it (or ``all_projects`` allows any)."""
    with deps.db().session() as s:
        row: Any = s.get(model, row_id)
    if (
        row is None
        or (row.deleted_at is not None and not deleted)
        or (row.project_id != ctx.project_id and not allowed(ctx, all_projects))
    ):
        raise NotFound(f"{label} {row_id} could not be found.")
    found: Row = row
    return found
