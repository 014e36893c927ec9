"""``create_schema`` brings a database made by a Nimbus from before migrations up to date,
keeping its rows (on SQLite and PostgreSQL alike: the old schemas are written in SQL both
take). ``test_migrations.py`` covers the migrations themselves."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from nimbus import migrate
from nimbus.db import Database


def test_columns_added_by_newer_code_are_added_to_an_old_database(empty_database_url: str) -> None:
    url = empty_database_url
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE images (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255))"))
        conn.execute(text("INSERT INTO images (id, name) VALUES ('i1', 'kept')"))
    db = Database(url)
    db.create_schema()
    columns = {c["name"] for c in inspect(db.engine).get_columns("images")}
    assert {"deleted_at", "status", "location"} <= columns
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT name FROM images")).scalar() == "kept"


def test_create_schema_twice_changes_nothing(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    db.create_schema()
    db.create_schema()
    assert "servers" in inspect(db.engine).get_table_names()


def test_a_column_that_became_nullable_takes_null_and_keeps_its_rows(
    empty_database_url: str,
) -> None:
    """Tokens became nullable in project_id (unscoped tokens): an old table is rebuilt."""
    url = empty_database_url
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE users (id VARCHAR(36) PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE projects (id VARCHAR(36) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO users (id) VALUES ('u1')"))
        conn.execute(text("INSERT INTO projects (id) VALUES ('p1')"))
        conn.execute(
            text(
                "CREATE TABLE tokens (token_hash VARCHAR(64) PRIMARY KEY,"
                " user_id VARCHAR(36) NOT NULL REFERENCES users(id),"
                " project_id VARCHAR(36) NOT NULL REFERENCES projects(id),"
                " issued_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL,"
                " revoked BOOLEAN NOT NULL)"
            )
        )
        conn.execute(text("CREATE INDEX ix_tokens_expires_at ON tokens (expires_at)"))
        conn.execute(
            text("INSERT INTO tokens VALUES ('h1', 'u1', 'p1', '2026-01-01', '2027-01-01', FALSE)")
        )
    db = Database(url)
    db.create_schema()
    db.create_schema()
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("tokens")}
    assert columns["project_id"]["nullable"] and "audit_ids" in columns
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT project_id FROM tokens")).scalar() == "p1"
        conn.execute(
            text(
                "INSERT INTO tokens (token_hash, user_id, project_id, issued_at, expires_at,"
                " revoked) VALUES ('h2', 'u1', NULL, '2026-01-01', '2027-01-01', FALSE)"
            )
        )
    assert "tokens__old" not in inspect(db.engine).get_table_names()


def test_ip_allocations_rekeyed_by_address_keep_their_rows(empty_database_url: str) -> None:
    """A port may now hold several addresses of one subnet: the key became (port, address)."""
    url = empty_database_url
    db = Database(url)
    migrate.upgrade(db.engine, migrate.BASELINE)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE ip_allocations"))
        conn.execute(text("DROP TABLE alembic_version"))  # made before migrations
        conn.execute(
            text(
                "CREATE TABLE ip_allocations (port_id VARCHAR(36) NOT NULL,"
                " subnet_id VARCHAR(36) NOT NULL, network_id VARCHAR(36) NOT NULL,"
                " ip_address VARCHAR(64) NOT NULL, PRIMARY KEY (port_id, subnet_id),"
                " UNIQUE (network_id, ip_address))"
            )
        )
        conn.execute(text("INSERT INTO ip_allocations VALUES ('p1', 's1', 'n1', '10.0.0.5')"))
    db.create_schema()
    db.create_schema()
    key = inspect(db.engine).get_pk_constraint("ip_allocations")["constrained_columns"]
    assert sorted(key) == ["ip_address", "port_id"]
    with db.engine.begin() as conn:
        rows = conn.execute(text("SELECT port_id, subnet_id, ip_address FROM ip_allocations"))
        assert rows.all() == [("p1", "s1", "10.0.0.5")]


def test_an_old_database_gains_the_volume_messages_and_transfers_tables(
    empty_database_url: str,
) -> None:
    """Cinder's user messages and transfers came later: an old data directory gets their
    tables, and its volumes keep their rows."""
    url = empty_database_url
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE volumes (id VARCHAR(36) PRIMARY KEY, size INTEGER)"))
        conn.execute(text("INSERT INTO volumes (id, size) VALUES ('v1', 3)"))
    db = Database(url)
    db.create_schema()
    columns = {c["name"] for c in inspect(db.engine).get_columns("volume_messages")}
    assert {"resource_uuid", "event_id", "expires_at"} <= columns
    columns = {c["name"] for c in inspect(db.engine).get_columns("volume_transfers")}
    assert {"crypt_hash", "no_snapshots", "accepted"} <= columns
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT size FROM volumes")).scalar() == 3


def test_flavors_of_an_old_database_gain_description_and_rxtx_factor(
    empty_database_url: str,
) -> None:
    """Flavors took a description (2.55) and a stored rxtx_factor: old rows read as none."""
    url = empty_database_url
    with create_engine(url).begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE flavors (id VARCHAR(64) PRIMARY KEY, name VARCHAR(255) UNIQUE,"
                " vcpus INTEGER NOT NULL, ram INTEGER NOT NULL, disk INTEGER NOT NULL,"
                " ephemeral INTEGER NOT NULL, swap INTEGER NOT NULL, is_public BOOLEAN NOT NULL)"
            )
        )
        conn.execute(text("INSERT INTO flavors VALUES ('1', 'm1.tiny', 1, 512, 1, 0, 0, TRUE)"))
    db = Database(url)
    db.create_schema()
    db.create_schema()
    tables = inspect(db.engine).get_table_names()
    assert {"flavor_extra_specs", "flavor_projects", "server_flavors"} <= set(tables)
    with db.engine.begin() as conn:
        row = conn.execute(text("SELECT name, description, rxtx_factor FROM flavors")).one()
    assert tuple(row) == ("m1.tiny", None, None)
