"""The quota module on a real SQLite file: limits, usage from rows, atomic admission."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from launcher import bootstrap
from nimbus import quota
from nimbus.config import QUOTA_DEFAULTS
from nimbus.db import Database, Server, Volume, VolumeSnapshot, utcnow
from nimbus.errors import InvalidSpec, QuotaExceeded

PROJECT = "p1"


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.create_schema()
    bootstrap.ensure_flavors(database)
    return database


def _server(flavor: str = "1", deleted: bool = False) -> Server:
    return Server(
        project_id=PROJECT,
        user_id="u",
        name="vm",
        flavor_id=flavor,
        image_id="i",
        deleted_at=utcnow() if deleted else None,
    )


def _admit(db: Database, amounts: dict[str, int]) -> bool:
    """Claim ``amounts`` and insert one server row for it; False if refused."""
    try:
        with db.session() as s:
            quota.claim(s, quota.Claim(PROJECT, amounts), QUOTA_DEFAULTS)
            s.add(_server())
    except QuotaExceeded:
        return False
    return True


def test_usage_counts_live_rows_with_flavor_sizes(db: Database) -> None:
    with db.session() as s:
        s.add_all([_server("1"), _server("3"), _server("3", deleted=True)])
        s.add(Volume(project_id=PROJECT, user_id="u", size=5))
        s.add(VolumeSnapshot(project_id=PROJECT, user_id="u", volume_id="v", size=5))
    with db.session() as s:
        used = quota.usage(s, PROJECT, [*quota.COMPUTE, *quota.VOLUME])
    assert used == {
        "instances": 2,
        "cores": 3,
        "ram": 512 + 4096,
        "volumes": 1,
        "gigabytes": 10,
        "snapshots": 1,
    }


def test_own_limits_override_defaults_until_reset(db: Database) -> None:
    with db.session() as s:
        quota.update(s, PROJECT, {"instances": 3, "ram": -1}, force=False)
    with db.session() as s:
        assert quota.limits(s, PROJECT, QUOTA_DEFAULTS, ["instances", "ram", "cores"]) == {
            "instances": 3,
            "ram": -1,
            "cores": 20,
        }
        assert quota.projects_with_limits(s, quota.COMPUTE) == [PROJECT]
        quota.reset(s, PROJECT, quota.COMPUTE)
    with db.session() as s:
        assert quota.limits(s, PROJECT, QUOTA_DEFAULTS, ["instances"]) == {"instances": 10}


def test_claim_past_the_limit_names_every_resource_over(db: Database) -> None:
    with db.session() as s:
        quota.update(s, PROJECT, {"instances": 1, "cores": 1}, force=False)
    assert _admit(db, {"instances": 1, "cores": 1})
    with pytest.raises(QuotaExceeded) as refused, db.session() as s:
        quota.claim(s, quota.Claim(PROJECT, {"instances": 1, "cores": 1}), QUOTA_DEFAULTS)
    assert [o.resource for o in refused.value.overs] == ["instances", "cores"]
    assert "Requested 1, 1, but already used 1, 1 of 1, 1 instances, cores" in str(refused.value)


def test_unlimited_admits_anything(db: Database) -> None:
    with db.session() as s:
        quota.update(s, PROJECT, {"instances": -1}, force=False)
    assert all(_admit(db, {"instances": 1}) for _ in range(12))


def test_limit_below_usage_is_refused_unless_forced(db: Database) -> None:
    assert _admit(db, {"instances": 1}) and _admit(db, {"instances": 1})
    with pytest.raises(InvalidSpec, match="already used and reserved 2"), db.session() as s:
        quota.update(s, PROJECT, {"instances": 1}, force=False)
    with db.session() as s:
        quota.update(s, PROJECT, {"instances": 1}, force=True)
    assert not _admit(db, {"instances": 1})


def _hammer(url: str, attempts: int) -> int:
    """In a process of its own: ``attempts`` concurrent admissions; how many got in."""
    database = Database(url)
    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(lambda _: _admit(database, {"instances": 1}), range(attempts)))


def test_concurrent_claims_from_several_processes_never_overshoot(db: Database) -> None:
    with db.session() as s:
        quota.update(s, PROJECT, {"instances": 7}, force=False)
    url = str(db.engine.url)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        admitted = sum(pool.starmap(_hammer, [(url, 20)] * 3))
    with db.session() as s:
        rows = s.query(Server).filter_by(project_id=PROJECT).count()
    assert admitted == rows == 7
