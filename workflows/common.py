"""What every workflow module and the API share: ids, search attributes, retry policies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

from nimbus.errors import NON_RETRYABLE

#: Search attributes, so the Temporal UI can filter operations by project and resource.
PROJECT = SearchAttributeKey.for_keyword("NimbusProject")
RESOURCE_TYPE = SearchAttributeKey.for_keyword("NimbusResourceType")
RESOURCE_ID = SearchAttributeKey.for_keyword("NimbusResourceId")
#: The server an operation on another resource acts for (a volume attach, a server
#: image), so the server's instance actions find it.
SERVER_ID = SearchAttributeKey.for_keyword("NimbusServerId")
SEARCH_ATTRIBUTES = [PROJECT, RESOURCE_TYPE, RESOURCE_ID, SERVER_ID]

#: Backend hiccups are retried with backoff; typed request errors are not.
RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=12,
    non_retryable_error_types=NON_RETRYABLE,
)

#: For undoing what a failed operation left behind: a backend that is busy or down now
#: (an image still held open by a worker that died, Ceph restarting) will not be so for
#: ever, and giving up would leave the leftovers for good.
PATIENT = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=NON_RETRYABLE,
)

#: How long one attempt of a quick activity may take before Temporal retries it elsewhere.
#: Short, so that an activity lost with a killed worker is retried promptly.
QUICK = timedelta(seconds=30)


def server_workflow_id(server_id: str, operation: str) -> str:
    """``server-<uuid>-<operation>``: one resource, one workflow id per operation."""
    return f"server-{server_id}-{operation}"


async def run_activity(fn: Any, arg: Any, queue: str | None = None, **kw: Any) -> Any:
    """Execute one activity method with the house timeouts and retry policy."""
    kw.setdefault("start_to_close_timeout", QUICK)
    kw.setdefault("retry_policy", RETRY)
    return await workflow.execute_activity_method(fn, arg, task_queue=queue, **kw)


async def all_of(*steps: Awaitable[Any]) -> list[Any]:
    """Run the steps together and wait for every one of them, even when one fails, so that
    no step is still running while a failure is compensated; then raise the first error."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def run_local(fn: Any, arg: Any) -> Any:
    """Execute a short database activity as a local activity: it runs in the workflow's
    own worker and is recorded as a marker, which saves the task round trips through the
    server that a regular activity costs (most of a networking request's latency)."""
    return await workflow.execute_local_activity_method(
        fn, arg, start_to_close_timeout=QUICK, retry_policy=RETRY
    )


#: One step on a host's network data plane takes milliseconds; a short limit lets a step
#: lost with its worker be retried on a live one soon.
NET_STEP = timedelta(seconds=10)


async def run_net(fn: Any, arg: Any, queue: str) -> Any:
    """Execute one network data-plane activity on a host's queue."""
    return await run_activity(fn, arg, queue, start_to_close_timeout=NET_STEP)


#: What a failed step raises in workflow code: an ``ActivityError`` for a regular activity,
#: the activity's own ``ApplicationError`` for a local one, or cancellation.
STEP_FAILED = (ActivityError, ApplicationError, asyncio.CancelledError)


def _cause(exc: BaseException) -> BaseException:
    return exc.cause if isinstance(exc, ActivityError) and exc.cause else exc


def failed_with(exc: BaseException, kind: str) -> bool:
    """Whether a failed step failed with the typed error ``kind`` (``"NotFound"``...)."""
    cause = _cause(exc)
    return isinstance(cause, ApplicationError) and cause.type == kind


def reason(exc: BaseException) -> str:
    """The message a user should see for a failed step."""
    if isinstance(exc, asyncio.CancelledError):
        return "the operation was cancelled"
    cause = _cause(exc)
    return getattr(cause, "message", None) or str(cause)


def user_error(what: str, exc: BaseException) -> ApplicationError:
    """A workflow failure that keeps the typed error (``Conflict``, ``NotFound``...) of the
    step that failed, so the API can answer with the matching status."""
    cause = _cause(exc)
    kind = cause.type if isinstance(cause, ApplicationError) and cause.type else "Failed"
    return ApplicationError(f"{what}: {reason(exc)}", type=kind, non_retryable=True)
