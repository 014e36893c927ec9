"""``nimbus up`` stages the default image once, and again only when a newer guest was built."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from launcher import bootstrap
from nimbus.config import Settings
from nimbus.db import Database, Image


def stage(tmp_path: Path, url: str, data: bytes) -> tuple[Database, str | None]:
    settings = Settings(data_dir=tmp_path, database_url=url)
    db = Database(settings.db_url)
    db.create_schema()
    source = tmp_path / "guest.raw"
    source.write_bytes(data)
    return db, bootstrap.stage_default_image(db, settings, source, "admin-project")


def activate(db: Database, image_id: str) -> None:
    """What ImportImage does once the data is in the store."""
    with db.session() as s:
        image = s.get(Image, image_id)
        assert image is not None
        image.status, image.location = "active", f"images/{image_id}@snap"


def names(db: Database) -> dict[str, str]:
    with db.session() as s:
        return {image.id: image.name or "" for image in s.scalars(select(Image))}


def test_an_imported_default_image_is_not_staged_again(tmp_path: Path, database_url: str):
    db, first = stage(tmp_path, database_url, b"guest v1")
    assert first is not None
    activate(db, first)
    assert stage(tmp_path, database_url, b"guest v1")[1] is None


def test_a_newer_guest_takes_the_default_name_and_the_old_one_is_kept(
    tmp_path: Path, database_url: str
):
    db, first = stage(tmp_path, database_url, b"guest v1")
    assert first is not None
    activate(db, first)
    _, second = stage(tmp_path, database_url, b"guest v2")
    assert second is not None and second != first
    assert names(db)[second] == bootstrap.DEFAULT_IMAGE
    assert names(db)[first].startswith(f"{bootstrap.DEFAULT_IMAGE}-")
    assert (tmp_path / "staging" / second).read_bytes() == b"guest v2"
