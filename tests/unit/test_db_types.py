"""What the columns hold on every database the cloud runs on (PostgreSQL's INTEGER has 32
bits where SQLite's has 64)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, make_url, text

from nimbus.db import Database, Image
from nimbus.db_paas import App, Build, LogOffset, Package

FIVE_GIB = 5 << 30


def test_byte_counts_past_two_gib_are_kept(database_url: str) -> None:
    db = Database(database_url)
    db.create_schema()
    with db.session() as s:
        s.add(Image(id="i", size=FIVE_GIB, virtual_size=FIVE_GIB))
        s.add(Package(project_id="p", sha256="x", size=FIVE_GIB))
        s.add(App(id="a", project_id="p", name="web"))
        s.flush()
        s.add(Build(id="b", app_id="a", project_id="p", package_sha256="x", host="h"))
        s.add(LogOffset(server_id="s", offset=FIVE_GIB))
    with db.session() as s:
        s.get_one(Build, "b").droplet_size = FIVE_GIB
    with db.session() as s:
        image, package = s.get_one(Image, "i"), s.get_one(Package, ("p", "x"))
        sizes = (image.size, image.virtual_size, package.size, s.get_one(Build, "b").droplet_size)
        assert sizes == (FIVE_GIB,) * 4 and s.get_one(LogOffset, "s").offset == FIVE_GIB


def test_a_postgresql_session_keeps_time_in_utc(empty_database_url: str) -> None:
    """Stored times are naive UTC: a server in another zone must not shift them."""
    if make_url(empty_database_url).get_backend_name() != "postgresql":
        pytest.skip("SQLite keeps no time zone")
    name = make_url(empty_database_url).database
    with create_engine(empty_database_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"ALTER DATABASE {name} SET timezone = 'Asia/Tokyo'"))
    with Database(empty_database_url).engine.connect() as conn:
        assert conn.scalar(text("SHOW timezone")) == "UTC"
        assert conn.scalar(text("SELECT now() AT TIME ZONE 'UTC' = LOCALTIMESTAMP"))
