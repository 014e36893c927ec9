from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from nimbus.db import Database


def test_columns_added_by_newer_code_are_added_to_an_old_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE images (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255))"))
        conn.execute(text("INSERT INTO images (id, name) VALUES ('i1', 'kept')"))
    db = Database(url)
    db.create_schema()
    columns = {c["name"] for c in inspect(db.engine).get_columns("images")}
    assert {"deleted_at", "status", "location"} <= columns
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT name FROM images")).scalar() == "kept"


def test_create_schema_twice_changes_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    db.create_schema()
    db.create_schema()
    assert "servers" in inspect(db.engine).get_table_names()
