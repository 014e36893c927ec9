"""A worker interceptor that runs every activity twice, the second run after the first
one's side effects committed, as a retry after a worker died between doing a step and
reporting it would. The workflow gets the second run's result."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import Counter
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

import activities


class RunTwice(Interceptor):
    """Counts, per activity type, how many times it was run twice."""

    def __init__(self) -> None:
        self.twice: Counter[str] = Counter()
        #: activity type -> the workflow types it ran in
        self.workflows: dict[str, set[str]] = {}

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Twice(next, self)


class _Twice(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: RunTwice) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        # The SDK wraps the context's heartbeat for a thread-pool run and leaves the
        # wrapper there; the second run must start from the original, as a retry does.
        context = activity._Context.current()
        heartbeat = context.heartbeat
        await super().execute_activity(input)  # an error here is the activity's own
        context.heartbeat = heartbeat
        result = await super().execute_activity(input)
        info = activity.info()
        self.owner.twice[info.activity_type] += 1
        self.owner.workflows.setdefault(info.activity_type, set()).add(info.workflow_type or "")
        return result


def every_activity() -> set[str]:
    """The name of every activity the ``activities`` package defines (``@activity.defn``
    on a function or a method): what a worker may be asked to run."""
    names: set[str] = set()
    for found in pkgutil.walk_packages(activities.__path__, "activities."):
        module = importlib.import_module(found.name)
        candidates = [f for _, f in inspect.getmembers(module, inspect.isfunction)]
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                candidates += [f for _, f in inspect.getmembers(cls, inspect.isfunction)]
        for fn in candidates:
            definition = getattr(fn, "__temporal_activity_definition", None)
            if definition is not None and fn.__module__ == module.__name__:
                names.add(str(definition.name))
    return names
