"""One request id from the API's answer to every log line the request caused.

The API gives each request an id (``req-<uuid>``, the ``x-openstack-request-id`` header);
``RequestIdInterceptor`` carries it in a Temporal header from the API's client into every
workflow it starts, from the workflow into each activity and child workflow it starts,
and sets ``REQUEST_ID`` while the activity runs, so ``observability.logs`` writes it on
every line. A workflow's history keeps the header, so an activity retried after a worker
restart still logs the request that caused it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import temporalio.activity
import temporalio.api.common.v1
import temporalio.client
import temporalio.converter
import temporalio.worker
import temporalio.workflow

#: The request being served (in the API) or whose operation runs (in a worker).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nimbus_request_id", default=None
)
HEADER = "nimbus-request-id"


class _WithHeaders(Protocol):
    headers: Mapping[str, temporalio.api.common.v1.Payload]


def _put(input: Any, converter: temporalio.converter.PayloadConverter) -> None:
    """Add the current request id to ``input``'s headers (if there is one)."""
    request_id = REQUEST_ID.get()
    if request_id:
        input.headers = {**input.headers, HEADER: converter.to_payload(request_id)}


@contextmanager
def _taken(input: _WithHeaders, converter: temporalio.converter.PayloadConverter) -> Iterator[None]:
    """``REQUEST_ID`` set from ``input``'s header while the block runs."""
    payload = input.headers.get(HEADER)
    token = REQUEST_ID.set(converter.from_payload(payload, str)) if payload else None
    try:
        yield
    finally:
        if token is not None:
            try:
                REQUEST_ID.reset(token)
            except ValueError:
                # A workflow evicted from the cache has its coroutine closed by the garbage
                # collector, outside the task whose context holds the token; that context
                # is gone with the task, so there is nothing to restore.
                pass


class RequestIdInterceptor(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    """Carries ``REQUEST_ID`` from the client into workflows and on into activities."""

    def __init__(self) -> None:
        self._converter = temporalio.converter.default().payload_converter

    def intercept_client(
        self, next: temporalio.client.OutboundInterceptor
    ) -> temporalio.client.OutboundInterceptor:
        return _ClientOut(next, self._converter)

    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _ActivityIn(next)

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _WorkflowIn


class _ClientOut(temporalio.client.OutboundInterceptor):
    def __init__(
        self,
        next: temporalio.client.OutboundInterceptor,
        converter: temporalio.converter.PayloadConverter,
    ) -> None:
        super().__init__(next)
        self._converter = converter

    async def start_workflow(
        self, input: temporalio.client.StartWorkflowInput
    ) -> temporalio.client.WorkflowHandle[Any, Any]:
        _put(input, self._converter)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: temporalio.client.SignalWorkflowInput) -> None:
        _put(input, self._converter)
        await super().signal_workflow(input)


class _ActivityIn(temporalio.worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        with _taken(input, temporalio.activity.payload_converter()):
            return await self.next.execute_activity(input)


class _WorkflowIn(temporalio.worker.WorkflowInboundInterceptor):
    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        self.next.init(_WorkflowOut(outbound))

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        with _taken(input, temporalio.workflow.payload_converter()):
            return await self.next.execute_workflow(input)

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        with _taken(input, temporalio.workflow.payload_converter()):
            return await self.next.handle_signal(input)


class _WorkflowOut(temporalio.worker.WorkflowOutboundInterceptor):
    def start_activity(
        self, input: temporalio.worker.StartActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        _put(input, temporalio.workflow.payload_converter())
        return self.next.start_activity(input)

    def start_local_activity(
        self, input: temporalio.worker.StartLocalActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        _put(input, temporalio.workflow.payload_converter())
        return self.next.start_local_activity(input)

    async def start_child_workflow(
        self, input: temporalio.worker.StartChildWorkflowInput
    ) -> temporalio.workflow.ChildWorkflowHandle[Any, Any]:
        _put(input, temporalio.workflow.payload_converter())
        return await self.next.start_child_workflow(input)
