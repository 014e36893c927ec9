"""The canary's steps as instance counts, and the deployment settings the supervisor
refuses."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from workflows.app_supervisor import canary_targets, check_deployment


@pytest.mark.parametrize(
    ("steps", "wanted", "counts"),
    [
        ([], 2, [1]),  # one instance, then a pause
        ([], 1, []),  # a single instance: nothing to pause between
        ([20, 50], 10, [2, 5]),
        ([10], 4, [1]),  # at least one instance
        ([50, 60], 2, [1]),  # steps that round to the same count pause once
        ([100], 3, []),  # a step of every instance is the end, not a pause
    ],
)
def test_canary_targets(steps: list[int], wanted: int, counts: list[int]) -> None:
    assert canary_targets(steps, wanted) == counts


@pytest.mark.parametrize(
    ("strategy", "in_flight", "steps", "words"),
    [
        ("blue-green", 1, [], "strategy must be one of rolling, canary, recreate"),
        ("rolling", 0, [], "max in flight must be from 1 to 100"),
        ("rolling", 1, [50], "instance steps are for the canary strategy"),
        ("canary", 1, [50, 20], "rising percentages"),
        ("canary", 1, [0], "rising percentages"),
        ("canary", 1, [20, 20], "rising percentages"),
    ],
)
def test_bad_settings_are_refused(
    strategy: str, in_flight: int, steps: list[int], words: str
) -> None:
    with pytest.raises(ApplicationError, match=words) as err:
        check_deployment(strategy, in_flight, steps)
    assert err.value.type == "InvalidSpec"


def test_good_settings_pass() -> None:
    for strategy, steps in (("rolling", []), ("recreate", []), ("canary", [10, 50, 90])):
        check_deployment(strategy, 3, steps)
