"""The schema's migrations (``nimbus.migrate``), on SQLite and on PostgreSQL
(``NIMBUS_TEST_DATABASE``): from nothing, from the previous schema with rows in it, and
from a database made before migrations began."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from nimbus import migrate
from nimbus.db import Base, Database, Flavor, Image, Server
from nimbus.db_paas import Package

GIB = 2**30


def differences(engine: Engine) -> list[Any]:
    """What separates the database's schema from the models' (types included)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_every_migration_run_from_nothing_gives_the_models_schema(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    migrate.upgrade(engine, migrate.BASELINE)
    assert migrate.current(engine) == migrate.BASELINE
    assert migrate.upgrade(engine) == f"upgraded from {migrate.BASELINE} to {migrate.head()}"
    assert differences(engine) == []
    engine.dispose()


def test_a_new_database_is_made_from_the_models_and_stamped_at_the_head(
    empty_database_url: str,
) -> None:
    db = Database(empty_database_url)
    assert db.create_schema() == f"created at {migrate.head()}"
    assert migrate.current(db.engine) == migrate.head()
    assert differences(db.engine) == []
    assert db.create_schema() == f"at {migrate.head()}"


def _previous_schema_with_rows(url: str) -> Engine:
    """A database at the baseline (the schema before 0002), with an image, a flavor, a
    server of that flavor and an uploaded package in it."""
    engine = create_engine(url)
    migrate.upgrade(engine, migrate.BASELINE)
    # The models differ from the baseline only in types wide enough for these values.
    with Session(engine) as s, s.begin():
        s.add(Flavor(id="f1", name="m1.tiny", vcpus=1, ram=512, disk=1, ephemeral=0, swap=0))
        s.add(Image(id="i1", name="cirros", status="active", size=GIB - 1))
        s.add(Package(project_id="p1", sha256="abc", size=2048))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO servers (id, project_id, user_id, name, status, power_state,"
                " flavor_id, image_id, host, metadata, created_at, updated_at) VALUES"
                " ('s1', 'p1', 'u1', 'vm', 'ACTIVE', 1, 'f1', 'i1', 'h1', '{}',"
                " '2026-01-01', '2026-01-01')"
            )
        )
    return engine


def test_a_database_of_the_previous_schema_keeps_its_rows_and_takes_wider_values(
    empty_database_url: str,
) -> None:
    old = _previous_schema_with_rows(empty_database_url)
    old.dispose()
    db = Database(empty_database_url)
    assert db.create_schema() == f"upgraded from {migrate.BASELINE} to {migrate.head()}"
    assert differences(db.engine) == []
    long_id = "f" * 200
    with db.session() as s:
        image = s.get(Image, "i1")
        assert image is not None and (image.name, image.size) == ("cirros", 2**30 - 1)
        assert s.get(Flavor, "f1") is not None
        assert s.get_one(Server, "s1").availability_zone == "nova"  # 0003's backfill
        image.size = image.virtual_size = 5 * GIB
        s.get_one(Package, ("p1", "abc")).size = 3 * GIB
        s.add(Flavor(id=long_id, name="long", vcpus=1, ram=64, disk=1, ephemeral=0, swap=0))
    with db.session() as s:
        image = s.get_one(Image, "i1")
        assert (image.size, image.virtual_size) == (5 * GIB, 5 * GIB)
        assert s.get_one(Package, ("p1", "abc")).size == 3 * GIB
        assert s.get_one(Flavor, long_id).name == "long"


def test_a_database_made_before_migrations_is_stamped_at_the_baseline_then_upgraded(
    empty_database_url: str,
) -> None:
    old = _previous_schema_with_rows(empty_database_url)
    with old.begin() as conn:
        conn.execute(text(f"DROP TABLE {migrate.VERSION_TABLE}"))
    old.dispose()
    db = Database(empty_database_url)
    assert db.create_schema() == f"upgraded from {migrate.BASELINE} to {migrate.head()}"
    assert differences(db.engine) == []
    with db.session() as s:
        assert s.get_one(Image, "i1").name == "cirros"


@pytest.mark.parametrize("revision", ["0002", "0003", "0006"])
def test_each_migration_goes_down_and_up_again(empty_database_url: str, revision: str) -> None:
    """A migration's downgrade undoes it on an empty database: a bad upgrade can be
    backed out before its rows are written."""
    from alembic import command

    engine = create_engine(empty_database_url)
    migrate.upgrade(engine, revision)
    migrate._run(engine, lambda cfg: command.downgrade(cfg, "-1"))
    assert migrate.current(engine) != revision
    migrate.upgrade(engine, revision)
    assert migrate.current(engine) == revision
    engine.dispose()
