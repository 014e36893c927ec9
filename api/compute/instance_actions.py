"""Nova's ``os-instance-actions`` (``openstack server event list/show``), read from the
operations' own workflows: every workflow started for a server carries its id as a search
attribute, so its actions are a visibility query and each action's events are the
activities in that workflow's history. Nothing is stored twice.

An action's ``request_id`` is ``req-<run id>`` of its workflow run. Events (one per
activity: name, start, finish, result) are shown to admins, as Nova shows them before
microversion 2.51; a failed event's traceback is the activity's error message.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from api import deps
from api.compute import bp
from api.context import RequestContext, current
from api.lookup import load_owned
from api.microversion import at_least
from api.policy import allowed, authorize
from api.timefmt import iso
from nimbus.db import Server
from nimbus.errors import NotFound
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


def _action(server: Server, execution: WorkflowExecution) -> dict[str, Any]:
    return {
        "action": _action_name(execution, server.id),
        "instance_uuid": server.id,
        "request_id": f"req-{execution.run_id}",
        "user_id": None,
        "project_id": server.project_id,
        "start_time": iso(execution.start_time.replace(tzinfo=None)),
        "message": "Error" if execution.status in _FAILED else None,
    }


async def _events(client: Client, execution: WorkflowExecution) -> list[dict[str, Any]]:
    """One event per activity of the run: scheduled -> started -> completed or failed."""
    history = await client.get_workflow_handle(
        execution.id, run_id=execution.run_id
    ).fetch_history()
    scheduled: dict[int, dict[str, Any]] = {}
    for event in history.events:
        when = iso(event.event_time.ToDatetime())
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = {
                "event": name,
                "start_time": when,
                "finish_time": None,
                "result": None,
                "traceback": None,
            }
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            done.update(finish_time=when, result="Success")
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            attributes = event.activity_task_failed_event_attributes
            failed = scheduled[attributes.scheduled_event_id]
            failed.update(finish_time=when, result="Error", traceback=attributes.failure.message)
    return list(scheduled.values())


def _load(server_id: str, ctx: RequestContext) -> Server:
    """From 2.21 a deleted server's actions stay readable (its delete among them)."""
    deleted = at_least("2.21")
    return load_owned(Server, server_id, ctx, "compute:servers:all_projects", "Instance", deleted)


@bp.get("/v2.1/servers/<server_id>/os-instance-actions")
def list_instance_actions(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    server = _load(server_id, ctx)
    found = deps.bridge().run(lambda c: _executions(c, server.id))
    return jsonify({"instanceActions": [_action(server, e) for e in found]})


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
    if allowed(ctx, "compute:servers:show_host"):
        view["events"] = found[1]
    return jsonify({"instanceAction": view})
