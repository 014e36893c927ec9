"""The audit trail: every state-changing request is recorded, and admins can list them.

A record is written after the response is built, whatever its status: refused attempts
(401, 403) matter as much as changes. It names the caller, the route, the resource and the
workflows the request started; never the body (it can hold passwords or user data).
Writing the record must not fail the request: a failure is logged and counted instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from sqlalchemy import select

from api import deps
from api.bridge import started_workflows
from api.context import RequestContext, admit, context_for, current
from api.errors import Unauthorized
from api.policy import authorize
from api.validation import digits
from nimbus.db_audit import AuditEvent
from nimbus.errors import InvalidSpec
from observability import metrics

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Listing pages: the default and the most one call returns.
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000

bp = Blueprint("audit", __name__)


def register(app: Flask) -> None:
    """Give every request an OpenStack request id, and record every write."""

    @app.before_request
    def _request_id() -> None:
        if "request_id" not in g:  # observability.flask made it first, if it runs
            g.request_id = f"req-{uuid.uuid4()}"

    @app.after_request
    def _record(response: Response) -> Response:
        response.headers["x-openstack-request-id"] = g.get("request_id", "")
        if request.method in WRITE_METHODS:
            try:
                _write(response)
            except Exception:
                metrics.AUDIT_WRITE_FAILURES.inc()
                log.exception(
                    "could not record %s %s in the audit trail", request.method, request.path
                )
        return response


def _caller() -> RequestContext | None:
    """Who made the request: the authenticated context, or the token's owner if the route
    validated it without keeping a context; ``None`` for an anonymous or refused caller."""
    ctx: RequestContext | None = g.get("ctx")
    if ctx is not None:
        return ctx
    token = request.headers.get("X-Auth-Token")
    if not token:
        return None
    try:
        return context_for(deps.db(), token)
    except Unauthorized:
        return None


def _resource_id(response: Response) -> str | None:
    """The resource the request named in its path, or the one it created."""
    if request.view_args:
        return str(list(request.view_args.values())[-1])[:255]
    if response.status_code in (200, 201, 202) and response.is_json and not response.is_streamed:
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            if len(body) == 1 and isinstance(next(iter(body.values())), dict):
                body = next(iter(body.values()))
            if isinstance(body.get("id"), str):
                return str(body["id"])[:255]
    return None


def _write(response: Response) -> None:
    ctx = _caller()
    subject: dict[str, str] = g.get("audit_subject", {})
    event = AuditEvent(
        request_id=g.get("request_id", ""),
        user_id=ctx.user_id if ctx else subject.get("user_id"),
        user_name=ctx.user_name if ctx else subject.get("user_name"),
        project_id=ctx.project_id if ctx else subject.get("project_id"),
        method=request.method,
        route=request.url_rule.rule if request.url_rule else "<unmatched>",
        path=request.path[:1024],
        resource_id=_resource_id(response),
        status=response.status_code,
        workflow_ids=list(started_workflows()),
        remote_addr=request.remote_addr,
    )
    with deps.db().session() as s:
        s.add(event)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _view(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": _iso(e.at),
        "request_id": e.request_id,
        "user_id": e.user_id,
        "user_name": e.user_name,
        "project_id": e.project_id,
        "method": e.method,
        "route": e.route,
        "path": e.path,
        "resource_id": e.resource_id,
        "status": e.status,
        "workflow_ids": e.workflow_ids,
        "remote_addr": e.remote_addr,
    }


def _time_arg(name: str) -> dt.datetime | None:
    value = request.args.get(name)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidSpec(f"'{name}' must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _int_arg(name: str, default: int | None, most: int) -> int | None:
    value = request.args.get(name)
    if value is None:
        return default
    if not digits(value):
        raise InvalidSpec(f"'{name}' must be a non-negative integer")
    return min(int(value), most)


@bp.before_request
def _authenticate() -> None:
    admit(deps.db())


@bp.get("/v1/events")
def list_events() -> Response:
    """Newest first. Filters: user_id, project_id, method, resource_id, status, since,
    until; paging with ``limit`` and ``marker`` (the id of the last event seen)."""
    authorize(current(), "audit:events:list")
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    for name in ("user_id", "project_id", "resource_id"):
        if request.args.get(name):
            query = query.where(getattr(AuditEvent, name) == request.args[name])
    if request.args.get("method"):
        query = query.where(AuditEvent.method == request.args["method"].upper())
    status = _int_arg("status", None, 999)
    if status is not None:
        query = query.where(AuditEvent.status == status)
    since, until = _time_arg("since"), _time_arg("until")
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    marker = _int_arg("marker", None, 2**62)
    if marker is not None:
        query = query.where(AuditEvent.id < marker)
    limit = _int_arg("limit", DEFAULT_LIMIT, MAX_LIMIT)
    with deps.db().session() as s:
        events = [_view(e) for e in s.scalars(query.limit(limit))]
    return jsonify({"events": events})
