"""Every Prometheus metric of Nimbus, defined once."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

API_REQUESTS = Counter(
    "nimbus_api_requests_total",
    "API requests by method, route template and status code.",
    ["method", "route", "status"],
)
API_LATENCY = Histogram(
    "nimbus_api_request_duration_seconds",
    "API request latency by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

AUDIT_WRITE_FAILURES = Counter(
    "nimbus_audit_write_failures_total",
    "State-changing API requests whose audit record could not be written.",
)
LOGIN_LOCKOUTS = Counter(
    "nimbus_login_lockouts_total",
    "Users locked out after too many wrong passwords in a row (api.identity.lockout).",
)
WORKFLOWS_STARTED = Counter(
    "nimbus_workflows_started_total", "Workflow executions started, by type.", ["workflow_type"]
)
WORKFLOWS_COMPLETED = Counter(
    "nimbus_workflows_completed_total", "Workflow executions completed, by type.", ["workflow_type"]
)
WORKFLOWS_FAILED = Counter(
    "nimbus_workflows_failed_total",
    "Workflow executions that failed or were cancelled, by type and error class.",
    ["workflow_type", "error"],
)
WORKFLOW_DURATION = Histogram(
    "nimbus_workflow_duration_seconds",
    "Workflow duration from start to close, by type and outcome.",
    ["workflow_type", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)

ACTIVITIES_STARTED = Counter(
    "nimbus_activities_started_total", "Activity attempts started, by type.", ["activity_type"]
)
ACTIVITIES_COMPLETED = Counter(
    "nimbus_activities_completed_total", "Activity attempts completed, by type.", ["activity_type"]
)
ACTIVITIES_FAILED = Counter(
    "nimbus_activities_failed_total",
    "Activity attempts that raised, by type and error class.",
    ["activity_type", "error"],
)
ACTIVITY_DURATION = Histogram(
    "nimbus_activity_duration_seconds",
    "Activity attempt duration, by type and outcome.",
    ["activity_type", "outcome"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
