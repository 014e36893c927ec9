"""A Temporal worker interceptor that counts workflows and activities by type."""

from __future__ import annotations

import time
from typing import Any

from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from observability import metrics


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
        outcome = "failed"
        try:
            result = await super().execute_activity(input)
            outcome = "completed"
            return result
        finally:
            counter = (
                metrics.ACTIVITIES_COMPLETED
                if outcome == "completed"
                else metrics.ACTIVITIES_FAILED
            )
            counter.labels(kind).inc()
            metrics.ACTIVITY_DURATION.labels(kind, outcome).observe(time.monotonic() - began)


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
        except BaseException:
            self._record(info, "failed")
            raise
        self._record(info, "completed")
        return result

    @staticmethod
    def _record(info: workflow.Info, outcome: str) -> None:
        if workflow.unsafe.is_replaying():
            return
        counter = (
            metrics.WORKFLOWS_COMPLETED if outcome == "completed" else metrics.WORKFLOWS_FAILED
        )
        counter.labels(info.workflow_type).inc()
        elapsed = (workflow.now() - info.start_time).total_seconds()
        metrics.WORKFLOW_DURATION.labels(info.workflow_type, outcome).observe(elapsed)
