"""What every workflow module and the API share: ids, search attributes, retry policies."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy, SearchAttributeKey

from nimbus.errors import NON_RETRYABLE

#: Search attributes, so the Temporal UI can filter operations by project and resource.
PROJECT = SearchAttributeKey.for_keyword("NimbusProject")
RESOURCE_TYPE = SearchAttributeKey.for_keyword("NimbusResourceType")
RESOURCE_ID = SearchAttributeKey.for_keyword("NimbusResourceId")
SEARCH_ATTRIBUTES = [PROJECT, RESOURCE_TYPE, RESOURCE_ID]

#: Backend hiccups are retried with backoff; typed request errors are not.
RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=8,
    non_retryable_error_types=NON_RETRYABLE,
)

#: How long one attempt of a quick activity may take before Temporal retries it elsewhere.
#: Short, so that an activity lost with a killed worker is retried promptly.
QUICK = timedelta(seconds=30)


def server_workflow_id(server_id: str, operation: str) -> str:
    """``server-<uuid>-<operation>``: one resource, one workflow id per operation."""
    return f"server-{server_id}-{operation}"
