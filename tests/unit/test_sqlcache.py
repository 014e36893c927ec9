"""The tests' shared compiled-SQL cache (``tests.support.sqlcache``): a statement compiled
for one test's engine serves another's, and each engine still reads its own database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from nimbus.db import Database, Flavor
from tests.support.sqlcache import SHARED


def _flavor_names(db: Database, name: str) -> list[str]:
    with db.session() as s:
        s.add(Flavor(id=name, name=name, vcpus=1, ram=64, disk=1))
    with db.session() as s:
        return list(s.scalars(select(Flavor.name).where(Flavor.name.like(f"{name[:3]}%"))))


def test_two_engines_share_compiled_statements_not_rows(tmp_path: Path) -> None:
    first, second = Database(f"sqlite:///{tmp_path}/a.db"), Database(f"sqlite:///{tmp_path}/b.db")
    for db in (first, second):
        db.create_schema()
    assert first.engine._compiled_cache is SHARED is second.engine._compiled_cache
    assert _flavor_names(first, "one-a") == ["one-a"]
    compiled = len(SHARED)
    # The same insert and query on the other engine: found compiled, run on its own file.
    assert _flavor_names(second, "one-b") == ["one-b"]
    assert len(SHARED) == compiled
    for db in (first, second):
        db.engine.dispose()
