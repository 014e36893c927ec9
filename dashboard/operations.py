"""Operations across the project's resources: each workflow that provisioning started, its
steps, durations, retries and errors, with a link to the Temporal web UI. Each page is a
call to the operations API (``/operations/v1``) as the signed-in user."""

from __future__ import annotations

import urllib.parse
from typing import Any

from flask import Blueprint, current_app, g, render_template, request, url_for

from dashboard.apiclient import ApiError, refusal

bp = Blueprint("operations", __name__)
OPERATIONS = "/operations/v1/operations"
#: The resource types Nimbus's workflows name, for the filter.
RESOURCE_TYPES = (
    "server", "volume", "snapshot", "image", "network", "subnet", "port", "router",
    "floatingip", "security-group", "app", "service", "ec2-credential",
)  # fmt: skip
STATUSES = ("running", "completed", "failed", "canceled", "terminated", "timed_out")
#: The list's query arguments that the API takes as they are.
FILTERS = ("resource_type", "status", "limit")
#: Runs that last as long as their resource (an app's supervisor): they keep no page
#: polling, since nothing about them moves.
LASTING = frozenset({"AppSupervisor"})
#: A resource type's page in the dashboard: its endpoint and the path parameter that
#: takes the resource's id (None: the list page of its kind).
RESOURCE_PAGES = {
    "server": ("compute.server", "server_id"),
    "app": ("apps.app", "app_id"),
    "volume": ("storage.volumes", None),
    "snapshot": ("images.snapshots", None),
    "image": ("images.images", None),
    "network": ("network.networks", None),
    "router": ("network.routers", None),
    "floatingip": ("network.floating_ips", None),
    "security-group": ("network.security_groups", None),
}


def duration(seconds: float | None) -> str:
    """``0.25 s``, ``3 min 5 s``, ``2 h 10 min``; empty while it runs."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def resource_link(operation: dict[str, Any]) -> str | None:
    """The dashboard page of the operation's resource, where there is one."""
    page = RESOURCE_PAGES.get(operation.get("resource_type") or "")
    if page is None or not operation.get("resource_id"):
        return None
    endpoint, param = page
    return url_for(endpoint, **({param: operation["resource_id"]} if param else {}))


def temporal_link(workflow_id: str, run_id: str | None) -> str:
    """The run's history in the Temporal web UI (the workflow's runs without a run id)."""
    ui = current_app.config["TEMPORAL_UI"]
    path = f"{ui}/workflows/{urllib.parse.quote(workflow_id, safe='')}"
    return f"{path}/{urllib.parse.quote(run_id, safe='')}/history" if run_id else path


def _shown(operation: dict[str, Any]) -> dict[str, Any]:
    return {
        **operation,
        "link": resource_link(operation),
        "duration": duration(operation.get("seconds")),
    }


def moving(operations: list[dict[str, Any]]) -> bool:
    """Whether a status on the page will change by itself."""
    return any(o["status"] == "running" and o["type"] not in LASTING for o in operations)


def _filters() -> dict[str, Any]:
    return {name: request.args[name] for name in FILTERS if request.args.get(name)}


def _page() -> tuple[list[dict[str, Any]], str | None]:
    """This page of the project's operations, as the filters and ``marker`` ask."""
    marker = request.args.get("marker")
    found = g.api.get(OPERATIONS, **_filters(), **({"marker": marker} if marker else {}))
    return [_shown(o) for o in found["operations"]], found.get("next_marker")


@bp.get("/operations")
def operations() -> Any:
    """The table with its filters; a filter the API refuses is shown next to the form."""
    try:
        found, older = _page()
    except ApiError as exc:
        return _list_page([], None, refusal(exc)), exc.status
    return _list_page(found, older, None)


def _list_page(found: list[dict[str, Any]], older: str | None, error: str | None) -> str:
    filters = _filters()
    return render_template(
        "operations.html",
        operations=found,
        polling=moving(found),
        filters=filters,
        resource_types=RESOURCE_TYPES,
        statuses=STATUSES,
        older=url_for("operations.operations", **filters, marker=older) if older else None,
        paged=bool(request.args.get("marker")),
        error=error,
    )


@bp.get("/operations/rows")
def operation_rows() -> str:
    """The table's body alone, for htmx to swap in while an operation runs."""
    found, _ = _page()
    return render_template("_operation_rows.html", operations=found, polling=moving(found))


def _step(step: dict[str, Any]) -> dict[str, Any]:
    """A step as shown: its duration, and a child workflow's history in Temporal."""
    child = step.get("workflow_id")
    history = temporal_link(child, step.get("run_id")) if child else None
    return {**step, "duration": duration(step.get("seconds")), "history": history}


def _operation(workflow_id: str) -> dict[str, Any]:
    """The operation (the run ``run_id`` names, else the latest) with its steps; errors
    are there for admins only (the API gives them to no one else)."""
    run_id = request.args.get("run_id")
    path = f"{OPERATIONS}/{urllib.parse.quote(workflow_id, safe='')}"
    found = g.api.get(path, **({"run_id": run_id} if run_id else {}))["operation"]
    steps = [_step(s) for s in found["steps"]]
    return {
        **_shown(found),
        "steps": steps,
        "errors": any("error" in s for s in steps),
        "polling": moving([found]),
    }


@bp.get("/operations/<workflow_id>")
def operation(workflow_id: str) -> str:
    found = _operation(workflow_id)
    history = temporal_link(found["workflow_id"], found["run_id"])
    return render_template("operation.html", op=found, history=history)


@bp.get("/operations/<workflow_id>/detail")
def operation_detail(workflow_id: str) -> str:
    """The operation's facts and steps alone, for htmx to swap in while it runs."""
    return render_template("_operation.html", op=_operation(workflow_id))
