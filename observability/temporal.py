"""A Temporal worker interceptor that counts workflows and activities by type."""

from __future__ import annotations

import logging
import time
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from observability import metrics

log = logging.getLogger("nimbus.activity")


class MetricsInterceptor(Interceptor):
    """Counts starts, completions, failures and durations of workflows and activities."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetrics(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _WorkflowMetrics


class _ActivityMetrics(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        kind = activity.info().activity_type
        metrics.ACTIVITIES_STARTED.labels(kind).inc()
        began = time.monotonic()
        try:
            result = await super().execute_activity(input)
        except BaseException as exc:
            elapsed, error = time.monotonic() - began, error_class(exc)
            metrics.ACTIVITIES_FAILED.labels(kind, error).inc()
            metrics.ACTIVITY_DURATION.labels(kind, "failed").observe(elapsed)
            log.info(
                "%s failed after %.0f ms: %s: %s", kind, elapsed * 1000, error, exc,
                extra={"outcome": "failed", "ms": round(elapsed * 1000, 1), "error": error},
            )  # fmt: skip
            raise
        elapsed = time.monotonic() - began
        metrics.ACTIVITIES_COMPLETED.labels(kind).inc()
        metrics.ACTIVITY_DURATION.labels(kind, "completed").observe(elapsed)
        log.info(
            "%s completed in %.0f ms", kind, elapsed * 1000,
            extra={"outcome": "completed", "ms": round(elapsed * 1000, 1)},
        )  # fmt: skip
        return result


def error_class(exc: BaseException) -> str:
    """What kind of error ended a workflow or activity: an application error's own type
    (``NotFound``, ``QuotaExceeded``...), a wrapped cause's, else the exception's class."""
    if isinstance(exc, ApplicationError) and exc.type:
        return exc.type
    if isinstance(exc, FailureError) and exc.cause is not None:
        return error_class(exc.cause)
    return type(exc).__name__


class _WorkflowMetrics(WorkflowInboundInterceptor):
    """Runs inside the workflow sandbox: it records only when not replaying history."""

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        if not workflow.unsafe.is_replaying():
            metrics.WORKFLOWS_STARTED.labels(info.workflow_type).inc()
        try:
            result = await super().execute_workflow(input)
        except GeneratorExit:
            raise  # evicted from the worker's cache (e.g. at shutdown): not an outcome
        except BaseException as exc:
            self._record(info, "failed", error_class(exc))
            raise
        self._record(info, "completed")
        return result

    @staticmethod
    def _record(info: workflow.Info, outcome: str, error: str = "") -> None:
        if workflow.unsafe.is_replaying():
            return
        if outcome == "completed":
            metrics.WORKFLOWS_COMPLETED.labels(info.workflow_type).inc()
        else:
            metrics.WORKFLOWS_FAILED.labels(info.workflow_type, error).inc()
        elapsed = (workflow.now() - info.start_time).total_seconds()
        metrics.WORKFLOW_DURATION.labels(info.workflow_type, outcome).observe(elapsed)
