"""Servers keep a copy of a flavor deleted under them; the classic flavors are seeded on
a first run only."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from launcher import bootstrap
from nimbus import quota
from nimbus.db import Database, Flavor, Server, utcnow
from nimbus.db_compute import (
    FlavorExtraSpec,
    ServerFlavor,
    keep_server_copies,
    server_extra_specs,
    server_flavor,
)


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.create_schema()
    bootstrap.ensure_flavors(database)
    return database


def _server(s: Session, flavor_id: str, old: str | None = None, deleted: bool = False) -> str:
    server = Server(project_id="p1", user_id="u", name="vm", flavor_id=flavor_id,
                    old_flavor_id=old, image_id="i")  # fmt: skip
    server.deleted_at = utcnow() if deleted else None
    s.add(server)
    s.flush()
    return server.id


def _delete_flavor(db: Database, flavor_id: str) -> int:
    with db.session() as s:
        flavor = s.get(Flavor, flavor_id)
        assert flavor is not None
        made = keep_server_copies(s, flavor)
        s.delete(flavor)
    return made


def test_live_servers_naming_a_flavor_keep_a_copy_of_it(db: Database) -> None:
    with db.session() as s:
        s.add(FlavorExtraSpec(flavor_id="3", key="hw:cpu_policy", value="shared"))
        running = _server(s, "3")
        resizing = _server(s, "1", old="3")
        _server(s, "3", deleted=True)
        _server(s, "1")
    assert _delete_flavor(db, "3") == 2
    with db.session() as s:
        copies = {(c.server_id, c.flavor_id) for c in s.scalars(select(ServerFlavor))}
        assert copies == {(running, "3"), (resizing, "3")}
        kept = server_flavor(s, running, "3")
        assert kept is not None and (kept.name, kept.vcpus, kept.ram) == ("m1.medium", 2, 4096)
        assert server_flavor(s, running, "no-such") is None
        assert server_extra_specs(s, running, "3") == {"hw:cpu_policy": "shared"}
        assert s.scalars(select(FlavorExtraSpec)).all() == []  # went with the flavor


def test_quota_usage_counts_a_deleted_flavor_from_the_copies(db: Database) -> None:
    with db.session() as s:
        _server(s, "3")
    _delete_flavor(db, "3")
    with db.session() as s:
        s.add(Flavor(id="3", name="reused", vcpus=8, ram=1, disk=1))
    with db.session() as s:
        assert quota.usage(s, "p1", ["cores", "ram"]) == {"cores": 2, "ram": 4096}


def test_a_deleted_classic_flavor_is_not_seeded_again(db: Database) -> None:
    _delete_flavor(db, "1")
    bootstrap.ensure_flavors(db)
    with db.session() as s:
        assert s.get(Flavor, "1") is None and s.get(Flavor, "2") is not None
