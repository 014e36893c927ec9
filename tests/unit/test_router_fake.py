"""What only the fake router does: injected failures and health set by the test."""

from __future__ import annotations

import pytest

from nimbus.errors import BackendUnavailable
from paas.router.base import AppRoute, Member
from paas.router.fake import FakeRouter

ROUTE = AppRoute("app-1", ("a.apps.localhost",))


def test_an_injected_failure_raises_once_and_changes_nothing() -> None:
    router = FakeRouter()
    router.fail("ensure_app", BackendUnavailable("router down"))
    with pytest.raises(BackendUnavailable):
        router.ensure_app(ROUTE)
    assert router.routes() == {}
    router.ensure_app(ROUTE)
    assert router.routes() == {"app-1": ROUTE}


def test_set_health_marks_one_member_down() -> None:
    router = FakeRouter()
    router.ensure_app(ROUTE)
    router.set_members("app-1", (Member(0, "10.0.0.5", True), Member(1, "10.0.0.6", False)))
    router.set_health("app-1", 1, "DOWN")
    assert router.member_health("app-1") == {0: "UP", 1: "DOWN"}
