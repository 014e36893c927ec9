"""A workflow run's steps, read from its Temporal history: what Nova's instance actions
and Nimbus's operations API show of an operation.

A step is one activity (scheduled -> started -> completed, failed, timed out or
canceled), one local activity (a marker recorded when it ended) or one child workflow.
Its attempt count is the retries Temporal made: the attempt that started last (recorded
when the activity ends), or, while it still runs, the one the run's description gives
with the failure that made it retry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType, StartChildWorkflowExecutionFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import PendingActivityInfo

ACTIVITY, LOCAL_ACTIVITY, CHILD_WORKFLOW = "activity", "local_activity", "child_workflow"
RUNNING, SUCCESS, ERROR, TIMED_OUT, CANCELED = (
    "Running",
    "Success",
    "Error",
    "Timed out",
    "Canceled",
)

#: The marker the Python SDK (sdk-core) records when a local activity ends.
LOCAL_ACTIVITY_MARKER = "core_local_activity"

_E = EventType


@dataclass
class Step:
    """One step of a run. Times are naive UTC; ``error`` is the last failure the step met:
    why it ended, or why its last attempt was retried."""

    name: str
    kind: str
    began: dt.datetime
    finished: dt.datetime | None = None
    result: str = RUNNING
    attempts: int = 1
    error: str | None = None
    task_queue: str = ""
    identity: str = ""
    activity_id: str = ""
    workflow_id: str | None = None
    run_id: str | None = None

    @property
    def seconds(self) -> float | None:
        """How long the step took, retries and waits for a worker included."""
        if self.finished is None:
            return None
        return round((self.finished - self.began).total_seconds(), 3)


def _message(failure: Failure) -> str | None:
    return failure.message or None


class _Reader:
    """Walks a history once, keeping each step under the id of the event that began it."""

    def __init__(self) -> None:
        self.steps: dict[int, Step] = {}
        self.task_started: dt.datetime | None = None
        self.handlers: dict[int, Callable[[HistoryEvent, dt.datetime], None]] = {
            _E.EVENT_TYPE_WORKFLOW_TASK_STARTED: self._task_started,
            _E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: self._scheduled,
            _E.EVENT_TYPE_ACTIVITY_TASK_STARTED: self._started,
            _E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: self._completed,
            _E.EVENT_TYPE_ACTIVITY_TASK_FAILED: self._failed,
            _E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: self._timed_out,
            _E.EVENT_TYPE_ACTIVITY_TASK_CANCELED: self._canceled,
            _E.EVENT_TYPE_MARKER_RECORDED: self._marker,
            _E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: self._child_initiated,
            _E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: self._child_not_started,
            _E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: self._child_started,
            _E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: self._child_ended(SUCCESS),
            _E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: self._child_ended(ERROR),
            _E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: self._child_ended(TIMED_OUT),
            _E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: self._child_ended(CANCELED),
            _E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: self._child_ended(ERROR),
        }

    def read(self, event: HistoryEvent) -> None:
        handler = self.handlers.get(event.event_type)
        if handler is not None:
            handler(event, event.event_time.ToDatetime())

    def _end(self, began_by: int, when: dt.datetime, result: str, failure: Failure) -> None:
        step = self.steps[began_by]
        step.finished, step.result = when, result
        step.error = _message(failure) or step.error

    def _task_started(self, event: HistoryEvent, when: dt.datetime) -> None:
        self.task_started = when

    def _scheduled(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.activity_task_scheduled_event_attributes
        self.steps[event.event_id] = Step(
            a.activity_type.name,
            ACTIVITY,
            when,
            task_queue=a.task_queue.name,
            activity_id=a.activity_id,
        )

    def _started(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.activity_task_started_event_attributes
        step = self.steps[a.scheduled_event_id]
        step.attempts, step.identity = max(a.attempt, 1), a.identity
        step.error = _message(a.last_failure)

    def _completed(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.activity_task_completed_event_attributes
        self._end(a.scheduled_event_id, when, SUCCESS, Failure())

    def _failed(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.activity_task_failed_event_attributes
        self._end(a.scheduled_event_id, when, ERROR, a.failure)

    def _timed_out(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.activity_task_timed_out_event_attributes
        self._end(a.scheduled_event_id, when, TIMED_OUT, a.failure)

    def _canceled(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.activity_task_canceled_event_attributes
        self._end(a.scheduled_event_id, when, CANCELED, Failure())

    def _marker(self, event: HistoryEvent, when: dt.datetime) -> None:
        """A local activity runs inside a workflow task and is recorded when it ends: it
        began at the latest workflow task's start."""
        a = event.marker_recorded_event_attributes
        if a.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in a.details:
            return
        try:
            data = json.loads(a.details["data"].payloads[0].data)
            name, attempt = str(data["activity_type"]), int(data.get("attempt") or 1)
        except (ValueError, KeyError, IndexError, TypeError):
            return  # a marker this reader does not know the shape of: not a step it can show
        step = Step(name, LOCAL_ACTIVITY, self.task_started or when, when, SUCCESS, attempt)
        if a.HasField("failure"):
            step.result, step.error = ERROR, _message(a.failure)
        self.steps[event.event_id] = step

    def _child_initiated(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.start_child_workflow_execution_initiated_event_attributes
        self.steps[event.event_id] = Step(
            a.workflow_type.name, CHILD_WORKFLOW, when, workflow_id=a.workflow_id
        )

    def _child_not_started(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.start_child_workflow_execution_failed_event_attributes
        step = self.steps[a.initiated_event_id]
        step.finished, step.result = when, ERROR
        cause = StartChildWorkflowExecutionFailedCause.Name(a.cause)
        cause = cause.removeprefix("START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_")
        step.error = f"could not start: {cause.replace('_', ' ').lower()}"

    def _child_started(self, event: HistoryEvent, when: dt.datetime) -> None:
        a = event.child_workflow_execution_started_event_attributes
        self.steps[a.initiated_event_id].run_id = a.workflow_execution.run_id

    def _child_ended(self, result: str) -> Callable[[HistoryEvent, dt.datetime], None]:
        def ended(event: HistoryEvent, when: dt.datetime) -> None:
            attributes = getattr(event, event.WhichOneof("attributes") or "")
            failure = getattr(attributes, "failure", None) or Failure()
            self._end(attributes.initiated_event_id, when, result, failure)

        return ended


def steps(events: Iterable[HistoryEvent]) -> list[Step]:
    """The run's steps, in the order they began."""
    reader = _Reader()
    for event in events:
        reader.read(event)
    return list(reader.steps.values())


def with_pending(found: list[Step], pending: Sequence[PendingActivityInfo]) -> list[Step]:
    """Steps of a running run with what its description adds of its activities still
    running: the attempt under way and the failure that made Temporal retry it."""
    by_id = {p.activity_id: p for p in pending}
    for step in found:
        info = by_id.get(step.activity_id) if step.kind == ACTIVITY else None
        if info is not None and step.result == RUNNING:
            step.attempts = max(info.attempt, 1)
            step.error = _message(info.last_failure) or step.error
    return found


def run_failure(events: Sequence[HistoryEvent]) -> str | None:
    """Why the run did not complete: its failure's message, or how it was ended."""
    if not events:
        return None
    last = events[-1]
    if last.event_type == _E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        failure = last.workflow_execution_failed_event_attributes.failure
        return _message(failure) or "the operation failed"
    if last.event_type == _E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        reason = last.workflow_execution_terminated_event_attributes.reason
        return f"terminated: {reason}" if reason else "terminated"
    if last.event_type == _E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
        return "the operation timed out"
    if last.event_type == _E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
        return "the operation was canceled"
    return None


def ran_on(queue: str) -> str | None:
    """The hypervisor host of a host-bound activity's task queue (``host-<name>``)."""
    return queue.removeprefix("host-") if queue.startswith("host-") else None
