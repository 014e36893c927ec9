"""Where an operation's time goes, read off its workflow history: each activity's wait in
its queue and its run, each workflow task, each local activity (recorded as a marker),
as offsets from the workflow's start.

Usage: ``python benchmarks/timeline.py <workflow id>`` against the running cloud its
environment names (as for ``nimbus``); ``benchmarks/boot.py`` prints a summary for its boots.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.api.history.v1 import HistoryEvent  # noqa: E402
from temporalio.client import WorkflowHistory  # noqa: E402

from nimbus.config import Settings, load_settings  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402
from nimbus.temporal import connect  # noqa: E402


@dataclass(frozen=True)
class Span:
    """One stretch of an operation: ``kind`` is queue, run, task or local."""

    name: str
    kind: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _time(event: HistoryEvent) -> float:
    return event.event_time.ToMicroseconds() / 1e6


def _local_name(event: HistoryEvent) -> str | None:
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != "core_local_activity":
        return None
    data = attrs.details["data"].payloads[0].data
    return str(json.loads(data).get("activity_type", "local"))


def spans(history: WorkflowHistory) -> list[Span]:
    """The history's activities (queue wait, then run), workflow tasks and local activities,
    in order, with times in seconds since the workflow started."""
    events = list(history.events)
    t0 = _time(events[0])
    by_id = {e.event_id: e for e in events}
    out: list[Span] = []
    for e in events:
        t = _time(e) - t0
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            sched = by_id[e.activity_task_started_event_attributes.scheduled_event_id]
            name = sched.activity_task_scheduled_event_attributes.activity_type.name
            out.append(Span(name, "queue", _time(sched) - t0, t))
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            start = by_id[e.activity_task_completed_event_attributes.started_event_id]
            sched = by_id[e.activity_task_completed_event_attributes.scheduled_event_id]
            name = sched.activity_task_scheduled_event_attributes.activity_type.name
            out.append(Span(name, "run", _time(start) - t0, t))
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            sched = by_id[e.workflow_task_completed_event_attributes.scheduled_event_id]
            out.append(Span("workflow task", "task", _time(sched) - t0, t))
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            local = _local_name(e)
            if local is not None:
                out.append(Span(local, "local", t, t))
    return sorted(out, key=lambda s: (s.start, s.end))


def total(history: WorkflowHistory) -> float:
    events = list(history.events)
    return _time(events[-1]) - _time(events[0])


def summary(histories: list[WorkflowHistory]) -> str:
    """Median seconds a run spends in each kind of stretch and in each activity's run,
    over several runs of one workflow type."""
    kinds: dict[str, list[float]] = defaultdict(list)
    runs: dict[str, list[float]] = defaultdict(list)
    for h in histories:
        per_kind: dict[str, float] = defaultdict(float)
        per_run: dict[str, float] = defaultdict(float)
        for s in spans(h):
            per_kind[s.kind] += s.seconds
            if s.kind == "run":
                per_run[s.name] += s.seconds
        for k, v in per_kind.items():
            kinds[k].append(v)
        for k, v in per_run.items():
            runs[k].append(v)
    lines = [f"  {'workflow start to end':32}{statistics.median(map(total, histories)):>8.3f}s"]
    labels = {
        "queue": "activities waiting in queues",
        "run": "activities running",
        "task": "workflow tasks",
    }
    for kind, label in labels.items():
        lines.append(f"  {label:32}{statistics.median(kinds[kind] or [0]):>8.3f}s")
    for name, values in sorted(runs.items(), key=lambda kv: -statistics.median(kv[1])):
        lines.append(f"    {name:30}{statistics.median(values):>8.3f}s")
    return "\n".join(lines)


def timeline(history: WorkflowHistory) -> str:
    """Each stretch of one run, as milliseconds since its start and durations."""
    lines = [
        f"  {s.start * 1000:8.1f} ms {s.seconds * 1000:7.1f} ms  {s.kind:6} {s.name}"
        for s in spans(history)
    ]
    return "\n".join([*lines, f"  total {total(history) * 1000:.1f} ms"])


async def fetch(settings: Settings, workflow_ids: list[str]) -> list[WorkflowHistory]:
    client = await connect(settings)
    return [await client.get_workflow_handle(w).fetch_history() for w in workflow_ids]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workflow_id")
    args = parser.parse_args()
    (history,) = asyncio.run(fetch(load_settings(), [args.workflow_id]))
    print(timeline(history))
    return 0


if __name__ == "__main__":
    exit_now(main())
