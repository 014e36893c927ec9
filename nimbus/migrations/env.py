"""Alembic's environment: migrations run on the connection ``nimbus.migrate`` hands in."""

from __future__ import annotations

from alembic import context

from nimbus.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite alters a column by rebuilding its table.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
