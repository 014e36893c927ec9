"""Files that hold secrets are their owner's alone from their creation (``nimbus.private``),
whatever the umask: clouds.yaml, the service users' passwords and token, the database."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher import bootstrap
from nimbus.config import Settings
from nimbus.db import Database
from nimbus.private import create_private, private_dir, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that narrows nothing: only the code's own modes protect the files."""
    before = os.umask(0)
    yield
    os.umask(before)


def test_a_private_file_is_made_0600_and_replaced_whole(tmp_path: Path, open_umask: None) -> None:
    path = write_private(tmp_path / "key", "first")
    assert mode(path) == 0o600 and path.read_text() == "first"
    write_private(path, b"second")
    assert mode(path) == 0o600 and path.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def test_a_leftover_temporary_file_readable_by_all_is_not_reused(
    tmp_path: Path, open_umask: None
) -> None:
    (tmp_path / ".key.tmp").write_text("left by a crash")
    (tmp_path / ".key.tmp").chmod(0o666)
    assert mode(write_private(tmp_path / "key", "secret")) == 0o600


def test_an_empty_private_file_is_made_once(tmp_path: Path, open_umask: None) -> None:
    path = create_private(tmp_path / "db")
    path.write_text("kept")
    assert mode(create_private(path)) == 0o600 and path.read_text() == "kept"


def test_a_private_folder_is_made_0700_and_an_open_one_narrowed(
    tmp_path: Path, open_umask: None
) -> None:
    assert mode(private_dir(tmp_path / "new")) == 0o700
    (tmp_path / "open").mkdir(mode=0o755)
    assert mode(private_dir(tmp_path / "open")) == 0o700


def test_the_sqlite_database_and_its_wal_are_private(tmp_path: Path, open_umask: None) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nimbus.db'}")
    db.create_schema()
    bootstrap.ensure_flavors(db)
    files = sorted(tmp_path.glob("nimbus.db*"))
    assert files and {mode(f) for f in files} == {0o600}
    db.engine.dispose()


def test_clouds_yaml_and_the_service_secrets_are_private(tmp_path: Path, open_umask: None) -> None:
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.db_url)
    creds = bootstrap.bootstrap(db, settings)
    assert creds is not None
    written = [
        bootstrap.write_clouds_yaml(settings, creds),
        bootstrap.ensure_rgw_user(db, settings),
        bootstrap.ensure_paas_user(db, settings),
        bootstrap.issue_rgw_token(db, settings),
    ]
    assert {mode(p) for p in written} == {0o600}
    db.engine.dispose()
