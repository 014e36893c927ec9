"""One contract suite for every Router: the in-memory fake and HAProxy driven through its
runtime API. The real runs start their own HAProxy on a free loopback port; members sit on
loopback addresses (127.0.0.1 has a listener, so a TCP check passes; 127.0.0.2 has none)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nimbus.errors import Conflict, InvalidSpec, NotFound
from paas.router.base import AppRoute, HealthCheck, Member, Router
from paas.router.fake import FakeRouter
from tests.support.routerlab import listener, running_router, wait_for

KINDS = ["fake", pytest.param("haproxy", marks=pytest.mark.network)]
UP_ADDRESS, DOWN_ADDRESS = "127.0.0.1", "127.0.0.2"


@dataclass
class Lab:
    router: Router
    port: int

    def health_becomes(self, app_id: str, expected: dict[int, str]) -> dict[int, str]:
        """Wait for the real checks to settle (the fake is told) and return the health."""
        if isinstance(self.router, FakeRouter):
            for index, state in expected.items():
                self.router.set_health(app_id, index, state)
        wait_for(lambda: self.router.member_health(app_id) == expected, timeout=6)
        return self.router.member_health(app_id)


@pytest.fixture(params=KINDS)
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    with listener(UP_ADDRESS) as port:
        if request.param == "fake":
            yield Lab(FakeRouter(), port)
        else:
            with running_router(tmp_path) as (router, _):
                yield Lab(router, port)


def route(lab: Lab, *hostnames: str, app_id: str = "", check: str = "port") -> AppRoute:
    names = hostnames or (f"{uuid.uuid4().hex[:8]}.apps.localhost",)
    return AppRoute(app_id or str(uuid.uuid4()), names, lab.port, health=HealthCheck(check))


def test_ensure_app_twice_holds_one_route(lab: Lab) -> None:
    app = route(lab)
    lab.router.ensure_app(app)
    lab.router.ensure_app(app)
    assert lab.router.routes() == {app.app_id: app}


def test_ensure_app_updates_host_names_and_releases_the_old_ones(lab: Lab) -> None:
    first = route(lab, "a.apps.localhost")
    lab.router.ensure_app(first)
    moved = AppRoute(first.app_id, ("b.apps.localhost",), lab.port)
    lab.router.ensure_app(moved)
    other = route(lab, "a.apps.localhost")
    lab.router.ensure_app(other)
    assert lab.router.routes() == {first.app_id: moved, other.app_id: other}


def test_host_name_of_another_app_is_a_conflict_naming_it(lab: Lab) -> None:
    held = route(lab, "taken.apps.localhost")
    lab.router.ensure_app(held)
    with pytest.raises(Conflict, match="taken.apps.localhost"):
        lab.router.ensure_app(route(lab, "free.apps.localhost", "taken.apps.localhost"))
    assert lab.router.routes() == {held.app_id: held}


@pytest.mark.parametrize("hostname", ["UPPER.apps.localhost", "a b.localhost", "x;y", ""])
def test_malformed_host_name_is_invalid(lab: Lab, hostname: str) -> None:
    with pytest.raises(InvalidSpec):
        lab.router.ensure_app(route(lab, hostname))
    assert lab.router.routes() == {}


def test_remove_app_twice_and_a_missing_app_are_success(lab: Lab) -> None:
    app = route(lab)
    lab.router.ensure_app(app)
    lab.router.remove_app(app.app_id)
    lab.router.remove_app(app.app_id)
    lab.router.remove_app(str(uuid.uuid4()))
    assert lab.router.routes() == {}


def test_a_removed_app_frees_its_host_names(lab: Lab) -> None:
    app = route(lab, "again.apps.localhost")
    lab.router.ensure_app(app)
    lab.router.remove_app(app.app_id)
    lab.router.ensure_app(route(lab, "again.apps.localhost"))


def test_members_of_an_unknown_app_are_not_found(lab: Lab) -> None:
    with pytest.raises(NotFound):
        lab.router.set_members(str(uuid.uuid4()), ())
    with pytest.raises(NotFound):
        lab.router.member_health(str(uuid.uuid4()))


def test_set_members_leaves_exactly_the_given_members(lab: Lab) -> None:
    app = route(lab)
    lab.router.ensure_app(app)
    lab.router.set_members(app.app_id, (Member(0, UP_ADDRESS, True), Member(1, UP_ADDRESS, True)))
    lab.router.set_members(app.app_id, (Member(1, UP_ADDRESS, True), Member(2, UP_ADDRESS, False)))
    lab.router.set_members(app.app_id, (Member(1, UP_ADDRESS, True), Member(2, UP_ADDRESS, False)))
    assert lab.health_becomes(app.app_id, {1: "UP", 2: "UP"}) == {1: "UP", 2: "UP"}


def test_more_members_than_first_planned_are_all_held(lab: Lab) -> None:
    app = route(lab)
    lab.router.ensure_app(app)
    members = tuple(Member(index, UP_ADDRESS, True) for index in range(12))
    lab.router.set_members(app.app_id, members)
    expected = {index: "UP" for index in range(12)}
    assert lab.health_becomes(app.app_id, expected) == expected


def test_repeated_member_index_is_invalid(lab: Lab) -> None:
    app = route(lab)
    lab.router.ensure_app(app)
    with pytest.raises(InvalidSpec):
        lab.router.set_members(app.app_id, (Member(0, UP_ADDRESS, True),) * 2)


def test_health_tells_a_failing_member_from_a_passing_one(lab: Lab) -> None:
    app = route(lab)
    lab.router.ensure_app(app)
    members = (Member(0, UP_ADDRESS, False), Member(1, DOWN_ADDRESS, False))
    lab.router.set_members(app.app_id, members)
    expected = {0: "UP", 1: "DOWN"}
    assert lab.health_becomes(app.app_id, expected) == expected


def test_process_check_members_are_up(lab: Lab) -> None:
    app = route(lab, check="process")
    lab.router.ensure_app(app)
    lab.router.set_members(app.app_id, (Member(0, DOWN_ADDRESS, True),))
    assert lab.router.member_health(app.app_id) == {0: "UP"}


def test_changing_the_check_keeps_the_members(lab: Lab) -> None:
    app = route(lab, check="process")
    lab.router.ensure_app(app)
    lab.router.set_members(app.app_id, (Member(0, DOWN_ADDRESS, True),))
    lab.router.ensure_app(route(lab, *app.hostnames, app_id=app.app_id, check="port"))
    assert lab.health_becomes(app.app_id, {0: "DOWN"}) == {0: "DOWN"}


def test_stats_of_members_that_served_nothing_are_zero(lab: Lab) -> None:
    app = route(lab)
    lab.router.ensure_app(app)
    lab.router.set_members(app.app_id, (Member(0, UP_ADDRESS, False), Member(3, UP_ADDRESS, False)))
    stats = lab.router.stats(app.app_id)
    assert sorted(stats) == [0, 3] and all(s.requests == 0 for s in stats.values())
    with pytest.raises(NotFound):
        lab.router.stats(str(uuid.uuid4()))
