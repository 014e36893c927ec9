"""Everything a test's database holds, as text: to show that a secret is not in it."""

from __future__ import annotations

from nimbus.db import Base, Database


def dump(db: Database) -> str:
    """SQLite's own dump of the database; on another database every row of every table."""
    if db.engine.dialect.name == "sqlite":
        return "\n".join(db.engine.raw_connection().iterdump())  # type: ignore[attr-defined]
    with db.engine.connect() as conn:
        rows = [conn.execute(table.select()).all() for table in Base.metadata.sorted_tables]
    return repr(rows)
