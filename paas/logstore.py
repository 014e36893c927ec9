"""Each app's log: staging output, its instances' output and its events, in one ordered
store that outlives instances and releases.

The store is bounded per app: past ``cap`` lines the oldest go, and the app's
``log_dropped`` counter says how many went, so a reader always knows lines are missing.
Lines live in the database, so every host's shipper and every API process share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nimbus.db import Database, utcnow
from nimbus.db_paas import App, LogLine

#: Lines kept per app.
DEFAULT_CAP = 20_000
#: A line longer than this is cut (a runaway line must not fill the store).
MAX_LINE = 4096


@dataclass(frozen=True)
class Line:
    seq: int
    at: str
    source: str
    line: str


def append(
    db: Database,
    app_id: str,
    source: str,
    lines: Sequence[str],
    cap: int = DEFAULT_CAP,
    step: str | None = None,
) -> None:
    """Add ``lines`` tagged ``source`` to the app's log, trimming it to ``cap`` lines. Lines
    written by a workflow ``step`` are written once: a retry of the step adds none."""
    if not lines:
        return
    with db.session() as s:
        if step is not None and s.scalars(select(LogLine.id).where(LogLine.step == step)).first():
            return
        add_lines(s, app_id, source, lines, step)
        trim(s, app_id, cap)


def add_lines(
    s: Session, app_id: str, source: str, lines: Sequence[str], step: str | None = None
) -> None:
    """The inserts of ``append``, for a caller that writes more in the same transaction."""
    now = utcnow()
    s.add_all(
        LogLine(app_id=app_id, at=now, source=source, line=line[:MAX_LINE], step=step)
        for line in lines
    )


def trim(s: Session, app_id: str, cap: int = DEFAULT_CAP) -> int:
    """Remove the app's oldest lines past ``cap`` and count them as dropped."""
    s.flush()
    total = s.scalar(select(func.count()).where(LogLine.app_id == app_id)) or 0
    excess = int(total) - cap
    if excess <= 0:
        return 0
    oldest = select(LogLine.id).where(LogLine.app_id == app_id).order_by(LogLine.id).limit(excess)
    s.execute(delete(LogLine).where(LogLine.id.in_(oldest.scalar_subquery())))
    app = s.get(App, app_id)
    if app is not None:
        app.log_dropped = (app.log_dropped or 0) + excess
    return excess


def read(
    db: Database, app_id: str, after: int = 0, limit: int = 1000, source: str | None = None
) -> list[Line]:
    """Lines after sequence number ``after`` (oldest first), or the newest ``limit`` lines
    when ``after`` is negative (``logs --recent``)."""
    query = select(LogLine).where(LogLine.app_id == app_id)
    if source:
        query = query.where(LogLine.source == source)
    if after >= 0:
        query = query.where(LogLine.id > after).order_by(LogLine.id).limit(limit)
    else:
        query = query.order_by(LogLine.id.desc()).limit(limit)
    with db.session() as s:
        rows = list(s.scalars(query))
    rows.sort(key=lambda r: r.id)
    return [
        Line(r.id, r.at.isoformat(timespec="milliseconds") + "Z", r.source, r.line) for r in rows
    ]


def tail(db: Database, app_id: str, source_prefix: str, count: int = 20) -> list[str]:
    """The last ``count`` lines whose source starts with ``source_prefix`` (``APP/0``)."""
    query = (
        select(LogLine.line)
        .where(LogLine.app_id == app_id, LogLine.source.startswith(source_prefix))
        .order_by(LogLine.id.desc())
        .limit(count)
    )
    with db.session() as s:
        return list(reversed(list(s.scalars(query))))


def forget(s: Session, app_id: str) -> None:
    """Remove every line of a deleted app."""
    s.execute(delete(LogLine).where(LogLine.app_id == app_id))
