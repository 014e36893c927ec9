"""Failure injection at the workflow level, through Temporal's interceptor API.

``FailAfter`` lets a named activity do its work and then reports it failed (once), as when a
worker dies after the side effect but before Temporal records the result. The workflow
must then undo a step it believes failed: the strictest test of "undo before do".
"""

from __future__ import annotations

import threading
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


class FailAfter(Interceptor):
    """Fail the first completed attempt of activity ``name`` after it ran.

    Steps of the host agent's own reconcile (workflow ids ``host-...``), which a
    restarted worker runs at once, are left alone: the failure is meant for the
    operation under test."""

    def __init__(self, name: str, within: str = "") -> None:
        self.name = name
        #: Only in workflows whose id holds this (``-migrate-``); any by default.
        self.within = within
        self.fired = threading.Event()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FailAfterActivity(next, self)


class _FailAfterActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: FailAfter) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        info = activity.info()
        mine = (
            info.activity_type == self.owner.name
            and not info.workflow_id.startswith("host-")
            and self.owner.within in info.workflow_id
        )
        if mine and not self.owner.fired.is_set():
            self.owner.fired.set()
            raise ApplicationError(
                f"injected failure after {self.owner.name}",
                type="InjectedFailure",
                non_retryable=True,
            )
        return result
