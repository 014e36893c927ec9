"""The project's operations under ``/operations/v1``: every workflow run that provisioning
started for the project's resources, read from Temporal (nothing is stored twice).

Each run carries the search attributes ``NimbusProject``, ``NimbusResourceType`` and
``NimbusResourceId``, so a project's operations are one visibility query, in Temporal's
own order: running ones first, then the rest by when they ended, newest first. Pages
follow Temporal's page token, handed to the client as an opaque ``marker``. One
operation's steps (activities, local activities, child workflows) come from its run's
history; their error messages are for admins (as Nova keeps instance actions'
tracebacks), the run's own failure message is the project's to see. Another project's
operation is 404.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.converter import decode_typed_search_attributes
from temporalio.service import RPCError, RPCStatusCode

from api import deps
from api.context import RequestContext, current
from api.own import serve_v1
from api.policy import allowed, authorize
from api.run_history import Step, run_failure, steps, with_pending
from api.timefmt import iso
from api.validation import check_query, int_query
from nimbus.errors import InvalidSpec, NotFound
from workflows.common import PROJECT, RESOURCE_ID, RESOURCE_TYPE

bp = Blueprint("operations", __name__)
serve_v1(bp, "/operations")

#: A page's length: the default and the most one call returns.
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
#: ``status`` filter -> Temporal's ``ExecutionStatus``.
STATUSES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "canceled": "Canceled",
    "terminated": "Terminated",
    "timed_out": "TimedOut",
    "continued_as_new": "ContinuedAsNew",
}
LIST_PARAMS = {"limit", "marker", "resource_type", "resource_id", "status"}
LIST_PARAMS |= {"all_projects", "project_id"}
#: What a value put into a visibility query may hold: ids and type names, nothing to
#: quote or escape.
_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,254}")
_YES, _NO = {"1", "true", "yes"}, {"0", "false", "no"}
#: How the visibility store answers a page token it cannot read.
_BAD_TOKEN = (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.UNKNOWN)


def _matching(name: str, pattern: re.Pattern[str]) -> str | None:
    value = request.args.get(name)
    if value is not None and not pattern.fullmatch(value):
        raise InvalidSpec(f"'{name}' is not a valid {name.replace('_', ' ')}: {value[:80]!r}.")
    return value


def _flag(name: str) -> bool:
    value = request.args.get(name, "0").lower()
    if value not in _YES | _NO:
        raise InvalidSpec(f"'{name}' must be 1 or 0.")
    return value in _YES


def _status() -> str | None:
    value = request.args.get("status")
    if value is not None and value not in STATUSES:
        raise InvalidSpec(f"'status' must be one of: {', '.join(STATUSES)}.")
    return value


def _marker() -> bytes | None:
    value = request.args.get("marker")
    if not value:
        return None
    try:
        return base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidSpec("'marker' is not one this API gave.") from exc


def _project(ctx: RequestContext) -> str | None:
    """The project asked about (None: every project); another one's is for admins."""
    everyone, asked = _flag("all_projects"), _matching("project_id", _ID)
    if everyone or (asked and asked != ctx.project_id):
        authorize(ctx, "operations:all_projects")
    return asked or (None if everyone else ctx.project_id)


@dataclass(frozen=True)
class _Query:
    """A list request: its visibility query and its page."""

    project: str | None
    resource_type: str | None
    resource_id: str | None
    status: str | None
    limit: int
    marker: bytes | None

    @classmethod
    def from_request(cls, ctx: RequestContext) -> _Query:
        check_query(LIST_PARAMS)
        return cls(
            _project(ctx),
            _matching("resource_type", _TYPE),
            _matching("resource_id", _ID),
            _status(),
            int_query("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            _marker(),
        )

    def visibility(self) -> str:
        """Temporal's list filter; every value was checked against ``_TYPE`` or ``_ID``."""
        project = f"= '{self.project}'" if self.project else "IS NOT NULL"
        terms = [f"{PROJECT.name} {project}"]
        if self.resource_type:
            terms.append(f"{RESOURCE_TYPE.name} = '{self.resource_type}'")
        if self.resource_id:
            terms.append(f"{RESOURCE_ID.name} = '{self.resource_id}'")
        if self.status:
            terms.append(f"ExecutionStatus = '{STATUSES[self.status]}'")
        return " AND ".join(terms)


async def _page(client: Client, query: _Query) -> tuple[list[WorkflowExecutionInfo], bytes]:
    """One page of runs. A marker the visibility store cannot read is the client's error:
    it is asked once, not retried (Temporal answers such a token with a retryable error)."""
    ask = ListWorkflowExecutionsRequest(
        namespace=client.namespace,
        page_size=query.limit,
        next_page_token=query.marker or b"",
        query=query.visibility(),
    )
    try:
        page = await client.workflow_service.list_workflow_executions(
            ask, retry=query.marker is None
        )
    except RPCError as exc:
        if query.marker is not None and exc.status in _BAD_TOKEN:
            raise InvalidSpec("'marker' is not one this API gave.") from exc
        raise
    return list(page.executions), page.next_page_token


def _view(info: WorkflowExecutionInfo) -> dict[str, Any]:
    attributes = decode_typed_search_attributes(info.search_attributes)
    began = info.start_time.ToDatetime()
    ended = info.close_time.ToDatetime() if info.HasField("close_time") else None
    return {
        "workflow_id": info.execution.workflow_id,
        "run_id": info.execution.run_id,
        "type": info.type.name,
        "project_id": attributes.get(PROJECT),
        "resource_type": attributes.get(RESOURCE_TYPE),
        "resource_id": attributes.get(RESOURCE_ID),
        "status": WorkflowExecutionStatus(info.status).name.lower(),
        "started_at": iso(began),
        "closed_at": iso(ended),
        "seconds": round((ended - began).total_seconds(), 3) if ended else None,
    }


def _marker_text(token: bytes | None) -> str | None:
    return base64.urlsafe_b64encode(token).decode().rstrip("=") if token else None


def _next_links(marker: str | None) -> list[dict[str, str]]:
    if marker is None:
        return []
    query = urlencode({**request.args.to_dict(), "marker": marker})
    return [{"rel": "next", "href": f"{deps.settings().public_url}{request.path}?{query}"}]


@bp.get("/v1/operations")
def list_operations() -> Response:
    """The project's operations, filtered by ``resource_type``, ``resource_id`` and
    ``status``, ``limit`` at a time; ``next_marker`` asks for the next page."""
    ctx = current()
    authorize(ctx, "operations:list")
    query = _Query.from_request(ctx)
    runs, token = deps.bridge().run(lambda c: _page(c, query))
    marker = _marker_text(token)
    return jsonify(
        {
            "operations": [_view(r) for r in runs],
            "next_marker": marker,
            "operations_links": _next_links(marker),
        }
    )


def _run_id() -> str | None:
    check_query({"run_id"})
    value = request.args.get("run_id")
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise InvalidSpec(f"'run_id' must be a UUID: {value[:80]!r}.") from exc


@dataclass(frozen=True)
class _Found:
    run: WorkflowExecutionDescription
    steps: list[Step]
    failure: str | None


async def _describe(
    client: Client, workflow_id: str, run_id: str | None
) -> WorkflowExecutionDescription | None:
    try:
        return await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise


def _visible(run: WorkflowExecutionDescription, ctx: RequestContext) -> bool:
    """The caller's project's operation, or any project's for an admin."""
    project = run.typed_search_attributes.get(PROJECT)
    return project is not None and (
        project == ctx.project_id or allowed(ctx, "operations:all_projects")
    )


async def _operation(
    client: Client, workflow_id: str, run_id: str | None, ctx: RequestContext
) -> _Found | None:
    """The run (the latest of ``workflow_id`` unless ``run_id`` says) with its steps, if
    the caller may see it; the history is read only then."""
    run = await _describe(client, workflow_id, run_id)
    if run is None or not _visible(run, ctx):
        return None
    history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
    found = with_pending(steps(history.events), run.raw_description.pending_activities)
    return _Found(run, found, run_failure(history.events))


def _step_view(step: Step, errors: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": step.name,
        "kind": step.kind,
        "attempts": step.attempts,
        "started": iso(step.began),
        "finished": iso(step.finished),
        "seconds": step.seconds,
        "result": step.result,
    }
    if step.workflow_id is not None:
        view.update(workflow_id=step.workflow_id, run_id=step.run_id)
    if errors:
        view["error"] = step.error
    return view


@bp.get("/v1/operations/<workflow_id>")
def show_operation(workflow_id: str) -> Response:
    """One operation (``run_id``: which run; the latest by default) with its steps."""
    ctx = current()
    authorize(ctx, "operations:show")
    run_id = _run_id()
    found = deps.bridge().run(lambda c: _operation(c, workflow_id, run_id, ctx))
    if found is None:
        raise NotFound(f"Operation {workflow_id} could not be found.")
    errors = allowed(ctx, "operations:step_errors")
    view = {
        **_view(found.run.raw_description.workflow_execution_info),
        "failure": found.failure,
        "steps": [_step_view(s, errors) for s in found.steps],
    }
    return jsonify({"operation": view})
