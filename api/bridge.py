"""The bridge from synchronous Flask views to the asyncio Temporal client.

One event loop runs in a background thread per API process; views hand it coroutines with
``asyncio.run_coroutine_threadsafe`` and wait for the result.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from flask import g, has_request_context
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from nimbus.errors import (
    BackendUnavailable,
    Conflict,
    InvalidSpec,
    NimbusError,
    NotFound,
    QuotaExceeded,
)
from observability.context import REQUEST_ID, RequestIdInterceptor

T = TypeVar("T")


_TYPES: dict[str, type[NimbusError]] = {
    cls.__name__: cls for cls in (NotFound, Conflict, QuotaExceeded, InvalidSpec)
}


def _typed(exc: WorkflowFailureError) -> NimbusError:
    """The Nimbus error a failed workflow carries (see ``workflows.common.user_error``)."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return _TYPES.get(cause.type or "", NimbusError)(cause.message)
    return NimbusError(str(cause or exc))


#: The workflows one ``TemporalBridge.run`` call started, as ``(id, run id)`` (set inside
#: its task).
_STARTED: contextvars.ContextVar[list[tuple[str, str]] | None] = contextvars.ContextVar(
    "nimbus_started_workflows", default=None
)


class _RecordStarts(Interceptor):
    """Notes the id of every workflow the client starts, for the request's audit record."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _StartRecorder(next)


class _StartRecorder(OutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        handle = await super().start_workflow(input)
        started = _STARTED.get()
        if started is not None:
            started.append((input.id, handle.result_run_id or ""))
        return handle


def started_runs() -> list[tuple[str, str]]:
    """The workflows this request started so far, as ``(id, run id)`` (empty outside a
    request)."""
    if not has_request_context():
        return []
    runs: list[tuple[str, str]] = g.setdefault("workflow_runs", [])
    return runs


def started_workflows() -> list[str]:
    """The ids of the workflows this request started so far."""
    return [workflow_id for workflow_id, _ in started_runs()]


class TemporalBridge:
    """Owns the loop thread and a lazily connected client."""

    def __init__(
        self,
        address: str,
        namespace: str,
        timeout: float = 30.0,
        options: dict[str, Any] | None = None,
    ) -> None:
        """``options``: more of ``Client.connect``'s keywords (``nimbus.temporal.options``:
        TLS, an API key)."""
        self.address = address
        self.namespace = namespace
        self.timeout = timeout
        self.options = {k: v for k, v in (options or {}).items() if k != "namespace"}
        self._client: Client | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="temporal-bridge", daemon=True
        )
        self._thread.start()

    def run(self, fn: Callable[[Client], Awaitable[T]], timeout: float | None = None) -> T:
        """Run ``fn(client)`` on the loop; Temporal errors become ``BackendUnavailable``."""
        started: list[tuple[str, str]] = []
        request_id = REQUEST_ID.get()
        future = asyncio.run_coroutine_threadsafe(self._call(fn, started, request_id), self._loop)
        try:
            return future.result(timeout or self.timeout)
        except TimeoutError as exc:
            future.cancel()
            raise BackendUnavailable("the workflow engine did not answer in time") from exc
        except WorkflowFailureError as exc:
            raise _typed(exc) from exc
        except (RPCError, ConnectionError, RuntimeError) as exc:
            raise BackendUnavailable(f"the workflow engine is unavailable: {exc}") from exc
        finally:
            started_runs().extend(started)

    async def _call(
        self,
        fn: Callable[[Client], Awaitable[T]],
        started: list[tuple[str, str]],
        request_id: str | None,
    ) -> T:
        _STARTED.set(started)
        REQUEST_ID.set(request_id)  # this task's own context: the workflows it starts
        if self._client is None:
            self._client = await Client.connect(
                self.address,
                namespace=self.namespace,
                interceptors=[_RecordStarts(), RequestIdInterceptor()],
                **self.options,
            )
        return await fn(self._client)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
