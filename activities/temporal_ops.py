"""Activities that talk to Temporal itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode


@dataclass(frozen=True)
class WorkflowRef:
    workflow_id: str


class TemporalOps:
    """Activities over a Temporal client."""

    def __init__(self, client: Client, poll_seconds: float = 0.5) -> None:
        self.client = client
        self.poll_seconds = poll_seconds

    @activity.defn
    async def await_workflow_closed(self, inp: WorkflowRef) -> None:
        """Return once the workflow has closed, or at once if it never existed.

        Lets a delete wait for the boot it cancelled to finish its compensations, so
        the two never work on the same domain at the same time.
        """
        handle = self.client.get_workflow_handle(inp.workflow_id)
        while True:
            try:
                desc = await handle.describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return
                raise
            if desc.status != WorkflowExecutionStatus.RUNNING:
                return
            activity.heartbeat()
            await asyncio.sleep(self.poll_seconds)

    def all(self) -> list[Callable[..., Any]]:
        return [self.await_workflow_closed]
