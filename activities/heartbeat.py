"""Heartbeats around one long blocking call, so a lost worker's attempt is retried soon."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")


def with_heartbeats(fn: Callable[[], T], interval: float = 2.0) -> T:
    """Run ``fn`` in a helper thread, heartbeating every ``interval`` seconds until it ends.

    A driver call such as an image import is one long call that cannot heartbeat itself;
    without heartbeats Temporal would wait out the whole attempt budget before retrying an
    attempt whose worker died.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the activity's thread
            error.append(exc)

    worker = threading.Thread(target=target, name="activity-call", daemon=True)
    worker.start()
    while worker.is_alive():
        activity.heartbeat()
        worker.join(interval)
    if error:
        raise error[0]
    return result[0]
