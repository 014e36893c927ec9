"""Nova's ``os-instance-actions`` (``openstack server event list/show``), read from the
operations' own workflows: every workflow started for a server carries its id as a search
attribute, so its actions are a visibility query and each action's events are the
activities in that workflow's history. Nothing is stored twice.

An action's ``request_id`` is ``req-<run id>`` of its workflow run, its ``updated_at``
(2.58) when the run closed (or started, while it runs). Events (one per activity: name,
start, finish, result) are shown to admins, and from 2.51 to the server's readers too,
without the ``traceback`` (the activity's error message). From 2.58 the list pages with
``limit``/``marker`` and filters on ``changes-since`` (and from 2.66 ``changes-before``);
from 2.62 each event has a ``hostId``, and for admins the ``host`` its activity ran on:
the hypervisor host of a host-bound activity, else the machine of the worker that ran it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from api import deps
from api.compute import bp
from api.compute.views import host_id
from api.context import RequestContext, current
from api.lookup import load_owned
from api.microversion import at_least
from api.policy import allowed, authorize
from api.run_history import ACTIVITY, ERROR, RUNNING, SUCCESS, Step, ran_on, steps
from api.timefmt import iso, parse_iso
from api.validation import check_query, digits, next_links
from nimbus.db import Server
from nimbus.errors import InvalidSpec, NotFound
from workflows.common import RESOURCE_ID, RESOURCE_TYPE, SERVER_ID

#: Workflow id suffix (``server-<id>-<operation>``) -> Nova's action name; reads such
#: as console output are not actions.
ACTIONS = {
    "boot": "create",
    "delete": "delete",
    "start": "start",
    "stop": "stop",
    "reboot": "reboot",
    "pause": "pause",
    "unpause": "unpause",
    "suspend": "suspend",
    "resume": "resume",
    "rebuild": "rebuild",
    "resize": "resize",
    "confirm-resize": "confirmResize",
    "revert-resize": "revertResize",
    "lock": "lock",
    "unlock": "unlock",
}

#: Workflows of another resource done for the server (found by ``NimbusServerId``).
TYPED_ACTIONS = {
    "AttachVolume": "attach_volume",
    "DetachVolume": "detach_volume",
    "CreateServerImage": "createImage",
    "MigrateServer": "migrate",
    "ConfirmMigration": "confirmResize",
    "RevertMigration": "revertResize",
    "EvacuateServer": "evacuate",
}

_FAILED = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
    WorkflowExecutionStatus.CANCELED,
}


#: Operations whose workflow id names a second resource (``attach-interface-<port id>``).
PREFIXED_ACTIONS = {
    "attach-interface-": "attach_interface",
    "detach-interface-": "detach_interface",
}


def _action_name(execution: WorkflowExecution, server_id: str) -> str | None:
    if execution.workflow_type in TYPED_ACTIONS:
        return TYPED_ACTIONS[execution.workflow_type]
    operation = execution.id.removeprefix(f"server-{server_id}-")
    for prefix, action in PREFIXED_ACTIONS.items():
        if operation.startswith(prefix):
            return action
    return ACTIONS.get(operation)


async def _executions(client: Client, server_id: str) -> list[WorkflowExecution]:
    query = (
        f"({RESOURCE_TYPE.name} = 'server' AND {RESOURCE_ID.name} = '{server_id}')"
        f" OR {SERVER_ID.name} = '{server_id}'"
    )
    found = [e async for e in client.list_workflows(query)]
    return sorted(
        (e for e in found if _action_name(e, server_id)),
        key=lambda e: e.start_time,
        reverse=True,
    )


def _updated(execution: WorkflowExecution) -> dt.datetime:
    """When the run closed (or started), to the second: as shown, so filters agree."""
    when = execution.close_time or execution.start_time
    return when.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


def _action(server: Server, execution: WorkflowExecution) -> dict[str, Any]:
    view = {
        "action": _action_name(execution, server.id),
        "instance_uuid": server.id,
        "request_id": f"req-{execution.run_id}",
        "user_id": None,
        "project_id": server.project_id,
        "start_time": iso(execution.start_time.replace(tzinfo=None)),
        "message": "Error" if execution.status in _FAILED else None,
    }
    if at_least("2.58"):
        view["updated_at"] = iso(_updated(execution))
    return view


def _event(step: Step) -> dict[str, Any]:
    """Nova's event of one activity: its result is Success or Error once it ended."""
    ended = step.result != RUNNING
    failed = ended and step.result != SUCCESS
    return {
        "event": step.name,
        "start_time": iso(step.began),
        "finish_time": iso(step.finished),
        "result": (ERROR if failed else step.result) if ended else None,
        "traceback": step.error if failed else None,
        "host": ran_on(step.task_queue) or step.identity.rpartition("@")[2] or None,
    }


async def _events(client: Client, execution: WorkflowExecution) -> list[dict[str, Any]]:
    """One event per activity of the run, with the host it ran on."""
    history = await client.get_workflow_handle(
        execution.id, run_id=execution.run_id
    ).fetch_history()
    return [_event(s) for s in steps(history.events) if s.kind == ACTIVITY]


def _event_view(event: dict[str, Any], project_id: str, admin: bool) -> dict[str, Any]:
    """What the caller sees of an event: admins the traceback and (2.62) the host; from
    2.62 everyone the hostId."""
    view = {k: v for k, v in event.items() if k != "host" and (admin or k != "traceback")}
    if at_least("2.62"):
        if admin:
            view["host"] = event["host"] or ""
        view["hostId"] = host_id(project_id, event["host"])
    return view


def _load(server_id: str, ctx: RequestContext) -> Server:
    """From 2.21 a deleted server's actions stay readable (its delete among them)."""
    deleted = at_least("2.21")
    return load_owned(Server, server_id, ctx, "compute:servers:all_projects", "Instance", deleted)


@dataclass(frozen=True)
class _Page:
    """2.58's paging and time filters of the action list (all None below 2.58)."""

    limit: int | None = None
    marker: str | None = None
    since: dt.datetime | None = None
    before: dt.datetime | None = None

    @classmethod
    def from_query(cls) -> _Page:
        if not at_least("2.58"):
            return cls()
        check_query({"limit", "marker", "changes-since"} | _before_param())
        args = request.args
        limit = args.get("limit")
        if limit is not None and not digits(limit):
            raise InvalidSpec(f"Invalid input for query parameters limit. Value: {limit}.")
        since, before = args.get("changes-since"), args.get("changes-before")
        page = cls(
            int(limit) if limit is not None else None,
            args.get("marker"),
            parse_iso(since, "changes-since") if since is not None else None,
            parse_iso(before, "changes-before") if before is not None else None,
        )
        if page.since and page.before and page.before < page.since:
            raise InvalidSpec(
                "The value of changes-since must be less than or equal to changes-before."
            )
        return page

    def select(self, found: list[WorkflowExecution]) -> list[WorkflowExecution]:
        """After the marker (newest first, as listed), within the times, at most limit."""
        if self.marker is not None:
            ids = [f"req-{e.run_id}" for e in found]
            if self.marker not in ids:
                raise InvalidSpec(f"Marker {self.marker} could not be found.")
            found = found[ids.index(self.marker) + 1 :]
        if self.since is not None:
            found = [e for e in found if _updated(e) >= self.since]
        if self.before is not None:
            found = [e for e in found if _updated(e) <= self.before]
        return found if self.limit is None else found[: self.limit]


def _before_param() -> set[str]:
    return {"changes-before"} if at_least("2.66") else set()


@bp.get("/v2.1/servers/<server_id>/os-instance-actions")
def list_instance_actions(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    server = _load(server_id, ctx)
    page = _Page.from_query()
    found = page.select(deps.bridge().run(lambda c: _executions(c, server.id)))
    body: dict[str, Any] = {"instanceActions": [_action(server, e) for e in found]}
    links = next_links(len(found), f"req-{found[-1].run_id}" if found else None)
    if links and at_least("2.58"):
        body["links"] = links
    return jsonify(body)


@bp.get("/v2.1/servers/<server_id>/os-instance-actions/<request_id>")
def show_instance_action(server_id: str, request_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    server = _load(server_id, ctx)

    async def find(client: Client) -> tuple[WorkflowExecution, list[dict[str, Any]]] | None:
        for execution in await _executions(client, server.id):
            if f"req-{execution.run_id}" == request_id:
                return execution, await _events(client, execution)
        return None

    found = deps.bridge().run(find)
    if found is None:
        raise NotFound(f"Action for request_id {request_id} on instance {server_id} not found")
    view = _action(server, found[0])
    admin = allowed(ctx, "compute:servers:show_host")
    if admin or at_least("2.51"):
        view["events"] = [_event_view(e, server.project_id, admin) for e in found[1]]
    return jsonify({"instanceAction": view})
