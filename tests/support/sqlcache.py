"""SQL compiled once per test process rather than once per test.

SQLAlchemy caches each statement's compiled form per engine (and per mapper for the ORM's
inserts, updates and deletes), keyed by the engine's dialect *instance*. The suite makes
new engines for every test's stack (its API, its worker, its helpers), so every test
compiled every statement it ran again: about a tenth of an API test's time. A dialect of
the same class on the same server version compiles a statement to the same SQL, so here
every engine and mapper shares one cache whose keys name a dialect by what it compiles
for. Nothing else is shared: each engine keeps its own pool, connections and database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Mapper
from sqlalchemy.util import LRUCache

from nimbus import db


class SharedCompiledCache:
    """The compiled-statement cache of every engine and mapper of this process."""

    def __init__(self, size: int = 20_000) -> None:
        self._compiled: LRUCache[tuple[Any, ...], Any] = LRUCache(size)
        self._dialects: dict[tuple[Any, ...], Dialect] = {}

    def _key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        dialect = key[0]
        kind = (type(dialect), dialect.server_version_info, dialect.paramstyle)
        return (self._dialects.setdefault(kind, dialect), *key[1:])

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return self._compiled.get(self._key(key), default)

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        self._compiled[self._key(key)] = value

    def __len__(self) -> int:
        return len(self._compiled)

    def clear(self) -> None:
        self._compiled.clear()


SHARED = SharedCompiledCache()
_make_engine = db.make_engine


def _make_shared_engine(url: str) -> Engine:
    engine = _make_engine(url)
    engine._compiled_cache = SHARED  # type: ignore[assignment]
    return engine


def install() -> None:
    """Every engine ``nimbus.db`` makes from now on, and every mapper, use ``SHARED``."""
    db.make_engine = _make_shared_engine
    Mapper._compiled_cache = property(lambda _mapper: SHARED)  # type: ignore[assignment,method-assign]
