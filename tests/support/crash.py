"""The crash campaign's first fault: the worker dies just before a step.

``CrashBefore`` fails the first attempt of each boundary (a workflow type's activity
type) before the activity does anything, as a worker killed just before running the
step would leave it. Temporal then retries the step under the workflow's own retry
policy, as it retries an attempt whose worker vanished (a lost attempt times out and
counts as a failed one). The other fault, the worker killed after the step's side effect
and before it reports, is ``tests.support.twice.RunTwice``'s: put it inside this one
(``interceptors=[crash, runs]``) and every boundary sees both.

Each crash costs a retry through the Temporal server (about a second): CI crashes a
sample of the boundaries (``sample``: one in N, the same ones every run, chosen by a hash
of the boundary); ``make crash-matrix`` crashes them all.
"""

from __future__ import annotations

import threading
import zlib
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

#: The error type of an injected crash (retryable: no workflow lists it as final).
WORKER_LOST = "InjectedWorkerLost"


class CrashBefore(Interceptor):
    def __init__(self, sample: int = 1) -> None:
        self.sample = sample
        #: The boundaries crashed at: (workflow type, activity type).
        self.crashed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Crash(next, self)

    def first_time(self, boundary: tuple[str, str]) -> bool:
        """Whether to crash here: the boundary is in the sample and not crashed yet."""
        if zlib.crc32("/".join(boundary).encode()) % self.sample:
            return False
        with self._lock:
            if boundary in self.crashed:
                return False
            self.crashed.add(boundary)
            return True


class _Crash(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: CrashBefore) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        boundary = (info.workflow_type or "", info.activity_type)
        if info.attempt == 1 and self.owner.first_time(boundary):
            raise ApplicationError(
                f"injected: the worker died before {info.activity_type}", type=WORKER_LOST
            )
        return await super().execute_activity(input)
