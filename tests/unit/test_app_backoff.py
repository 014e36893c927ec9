"""Cloud Foundry's restart schedule for crashed instances."""

from __future__ import annotations

from workflows.app_backoff import Backoff


def test_the_first_three_crashes_restart_at_once() -> None:
    assert Backoff().schedule(3) == [0.0, 0.0, 0.0]


def test_then_the_wait_doubles_from_30_seconds() -> None:
    assert Backoff().schedule(7)[3:] == [30.0, 60.0, 120.0, 240.0]


def test_the_wait_is_capped_at_16_minutes() -> None:
    assert Backoff().delay(9) == 960.0
    assert Backoff().delay(10_000) == 960.0


def test_a_compressed_schedule_keeps_the_shape() -> None:
    fast = Backoff(immediate=1, first_seconds=1, cap_seconds=4)
    assert fast.schedule(6) == [0.0, 1.0, 2.0, 4.0, 4.0, 4.0]
