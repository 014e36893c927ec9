"""Schema migrations: bring any Nimbus database to the models' schema, keeping its rows.

The migrations are Alembic's, in ``nimbus/migrations/versions``. What ``upgrade`` does
depends on what the database holds:

- nothing: the tables are made from the models and stamped with the newest revision, in
  one step (``tests/unit/test_migrations.py`` shows that equals running every migration);
- an ``alembic_version`` table: the migrations after its revision run, in order, in one
  transaction where the database allows (PostgreSQL; SQLite commits DDL as it goes);
- Nimbus's tables without one, made before migrations began: it is brought to the
  baseline (``0001``, whose migration declares its tables) by adding what it lacks, as
  Nimbus did on start before migrations; it is stamped so, then upgraded.

SQLite cannot alter a column's type: a migration rebuilds the table (Alembic's batch
mode), with foreign keys off meanwhile so that dropping the old table cascades nowhere;
rows whose references the migration broke fail it before they are turned back on.

A new migration: change the models, then ``python -m nimbus.migrate revision "what"``
writes the operations that take a database at the newest revision to them.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import ReflectedColumn

from nimbus.errors import NimbusError

#: Alembic says at INFO what its import and every command set up; ``upgrade`` logs what
#: it did instead.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

log = logging.getLogger(__name__)

#: The revision of the schema as it stood when migrations began.
BASELINE = "0001"
VERSION_TABLE = "alembic_version"


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, with no file: the scripts' place and the connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision."""
    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None
    return found


def current(engine: Engine) -> str | None:
    """The revision a database is at; None for one never stamped."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the database to ``revision``; return what was done, in a few words."""
    from nimbus import db

    tables = set(inspect(engine).get_table_names())
    if not tables and revision == "head":
        db.Base.metadata.create_all(engine)
        _run(engine, lambda cfg: command.stamp(cfg, "head"))
        return f"created at {head()}"
    if tables and VERSION_TABLE not in tables:
        _to_baseline(engine)
        _run(engine, lambda cfg: command.stamp(cfg, BASELINE))
    before = current(engine)
    _run(engine, lambda cfg: command.upgrade(cfg, revision))
    after = current(engine)
    if before == after:
        return f"at {after}"
    log.info("database schema upgraded from %s to %s", before, after)
    return f"upgraded from {before} to {after}"


def _baseline() -> MetaData:
    """The tables of the baseline revision, as its migration declares them."""
    script = ScriptDirectory.from_config(config()).get_revision(BASELINE)
    assert script is not None
    metadata = MetaData()
    script.module.tables(metadata)
    return metadata


def _to_baseline(engine: Engine) -> None:
    """Bring a database made before migrations to the baseline, keeping its rows: the
    tables it lacks are made, then the columns its tables lack added, those the baseline
    lets take NULL relaxed, and the primary keys that changed swapped."""
    metadata = _baseline()
    metadata.create_all(engine)
    _add_missing_columns(engine, metadata)
    _relax_not_null(engine, metadata)
    _rekey(engine, metadata)


def _columns(engine: Engine) -> dict[str, list[ReflectedColumn]]:
    """Each table's columns as the database has them (one query on PostgreSQL, where
    asking table by table was several times slower)."""
    found = inspect(engine).get_multi_columns()
    return {name: columns for (_, name), columns in found.items()}


def _add_missing_columns(engine: Engine, metadata: MetaData) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN`` for every declared column a table lacks.

    Schema changes before migrations only added nullable or defaulted columns. Returns
    ``table.column`` for each column added.
    """
    added = []
    columns = _columns(engine)
    for table in metadata.sorted_tables:
        present = {c["name"] for c in columns.get(table.name, [])}
        for column in table.columns:
            if column.name in present:
                continue
            ddl = f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
            ddl += column.type.compile(dialect=engine.dialect)
            with engine.begin() as conn:
                conn.execute(text(ddl))
            added.append(f"{table.name}.{column.name}")
    return added


def _relax_not_null(engine: Engine, metadata: MetaData) -> list[str]:
    """Let columns that the baseline declares nullable take NULL (``table.column`` each).

    PostgreSQL drops the constraint in place; SQLite cannot, so the table is rebuilt with
    the declared schema and its rows copied over (with ``legacy_alter_table``, so the
    rename leaves other tables' references alone)."""
    columns = _columns(engine)
    relaxed = []
    for table in metadata.sorted_tables:
        present = {c["name"]: bool(c["nullable"]) for c in columns.get(table.name, [])}
        names = [
            c.name
            for c in table.columns
            if c.nullable and not c.primary_key and not present.get(c.name, True)
        ]
        if not names:
            continue
        if engine.dialect.name == "sqlite":
            _rebuild_sqlite_table(engine, table, list(present))
        else:
            with engine.begin() as conn:
                for name in names:
                    conn.execute(
                        text(f"ALTER TABLE {table.name} ALTER COLUMN {name} DROP NOT NULL")
                    )
        relaxed += [f"{table.name}.{name}" for name in names]
    return relaxed


def _rekey(engine: Engine, metadata: MetaData) -> list[str]:
    """Give each table the primary key the baseline declares (``table`` each), keeping its
    rows: the new key must already be unique in them. PostgreSQL swaps the constraint in
    place; SQLite rebuilds the table."""
    keys = {name: key for (_, name), key in inspect(engine).get_multi_pk_constraint().items()}
    rekeyed = []
    for table in metadata.sorted_tables:
        present = keys.get(table.name)
        wanted = [c.name for c in table.primary_key.columns]
        if present is None or sorted(present["constrained_columns"]) == sorted(wanted):
            continue
        if engine.dialect.name == "sqlite":
            columns = [c["name"] for c in inspect(engine).get_columns(table.name)]
            _rebuild_sqlite_table(engine, table, columns)
        else:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table.name} DROP CONSTRAINT {present['name']}"))
                conn.execute(
                    text(f"ALTER TABLE {table.name} ADD PRIMARY KEY ({', '.join(wanted)})")
                )
        rekeyed.append(table.name)
    return rekeyed


def _rebuild_sqlite_table(engine: Engine, table: Any, columns: list[str]) -> None:
    old = f"{table.name}__old"
    kept = ", ".join(c for c in columns if c in table.columns)
    with engine.connect() as conn:
        # Pragmas take effect outside a transaction only: commit the one they began.
        conn.execute(text("PRAGMA foreign_keys=OFF"))
        conn.execute(text("PRAGMA legacy_alter_table=ON"))
        conn.commit()
        conn.execute(text(f"ALTER TABLE {table.name} RENAME TO {old}"))
        for index in inspect(conn).get_indexes(old):
            conn.execute(text(f"DROP INDEX {index['name']}"))
        table.create(conn)
        conn.execute(text(f"INSERT INTO {table.name} ({kept}) SELECT {kept} FROM {old}"))
        conn.execute(text(f"DROP TABLE {old}"))
        conn.commit()
        conn.execute(text("PRAGMA legacy_alter_table=OFF"))
        conn.execute(text("PRAGMA foreign_keys=ON"))
        conn.commit()


def _run(engine: Engine, step: Callable[[Config], object]) -> None:
    """Run an Alembic command on one connection of ``engine``, in one transaction."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # A pragma takes effect outside a transaction only: commit the one it began.
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            conn.commit()
        try:
            before = _broken_references(conn) if sqlite else set()
            with conn.begin():
                step(config(conn))
            if sqlite:
                broken = _broken_references(conn) - before
                if broken:
                    raise NimbusError(f"a migration broke these rows' references: {broken}")
        finally:
            if sqlite:
                conn.execute(text("PRAGMA foreign_keys=ON"))
                conn.commit()


def _broken_references(conn: Connection) -> set[tuple[Any, ...]]:
    """SQLite's rows whose foreign keys point nowhere: (table, rowid, parent, key)."""
    found = {tuple(row) for row in conn.execute(text("PRAGMA foreign_key_check"))}
    conn.commit()
    return found


def revision(message: str) -> None:
    """Write a new migration from the difference between the newest revision and the
    models (a scratch SQLite database is upgraded to the head, then compared)."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/scratch.db")
        _run(engine, lambda cfg: command.upgrade(cfg, "head"))
        with engine.connect() as conn:
            number = f"{int(head()) + 1:04d}"
            command.revision(config(conn), message, autogenerate=True, rev_id=number)
        engine.dispose()


if __name__ == "__main__":  # pragma: no cover - a developer's command
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m nimbus.migrate revision "what the migration does"')
    revision(sys.argv[2])
