"""PaaS activities that talk to Temporal itself: retiring an app's supervisor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.paas_records import AppRef


class PaasTemporalOps:
    """Activities over a Temporal client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn
    async def retire_supervisor(self, inp: AppRef) -> None:
        """Ask the app's supervisor to stop everything and end, and wait until it has; a
        supervisor that never ran or already ended is fine."""
        handle = self.client.get_workflow_handle(f"app-{inp.app_id}-supervisor")
        try:
            described = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return
            raise
        if described.status != WorkflowExecutionStatus.RUNNING:
            return
        activity.heartbeat("retiring")
        await handle.execute_update("delete")
        await handle.result()

    def all(self) -> list[Callable[..., Any]]:
        return [self.retire_supervisor]
