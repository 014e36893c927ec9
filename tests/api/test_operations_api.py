"""The operations API over the fake drivers: a project's workflow runs (a server's boot, a
volume's create), filtered and paged; one run's steps with their attempts, and their
errors for admins only; another project's runs are 404; bad query arguments are 400."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import (
    ActivityType,
    Payload,
    Payloads,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.enums.v1 import EventType as E
from temporalio.api.enums.v1 import StartChildWorkflowExecutionFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import (
    ActivityTaskCanceledEventAttributes,
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    ActivityTaskTimedOutEventAttributes,
    ChildWorkflowExecutionFailedEventAttributes,
    ChildWorkflowExecutionStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    StartChildWorkflowExecutionFailedEventAttributes,
    StartChildWorkflowExecutionInitiatedEventAttributes,
    WorkflowExecutionTerminatedEventAttributes,
    WorkflowTaskStartedEventAttributes,
)
from temporalio.api.workflow.v1 import PendingActivityInfo

from api.run_history import CANCELED, ERROR, RUNNING, TIMED_OUT, run_failure, steps, with_pending
from nimbus.errors import BackendUnavailable, InvalidSpec
from tests.support.stack import Stack, import_default_image
from workflows.common import server_workflow_id

OPERATIONS = "/operations/v1/operations"


@dataclass
class Made:
    """What alice's project did: a booted server and a volume made."""

    project: str
    server: str
    volume: str


def _h(stack: Stack, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user)}


def _volume(stack: Stack, project: str, user: str = "alice") -> str:
    """Make a volume and wait for its workflow to end, however it ends."""
    body = {"volume": {"size": 1}}
    made = stack.client.post(f"/volume/v3/{project}/volumes", json=body, headers=_h(stack, user))
    assert made.status_code == 202, made.json
    volume_id = str(made.json["volume"]["id"])
    stack.finish(f"volume-{volume_id}-create")
    return volume_id


@pytest.fixture
def made(stack: Stack) -> Made:
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id()}}
    booted = stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack))
    assert booted.status_code == 202, booted.json
    server_id = str(booted.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    project = str(stack.token_info(stack.token("alice"))["project"]["id"])
    return Made(project, server_id, _volume(stack, project))


def _list(stack: Stack, user: str = "alice", **query: Any) -> Any:
    return stack.client.get(OPERATIONS, query_string=query, headers=_h(stack, user))


def _show(stack: Stack, workflow_id: str, user: str = "alice", **query: Any) -> Any:
    url = f"{OPERATIONS}/{workflow_id}"
    return stack.client.get(url, query_string=query, headers=_h(stack, user))


def test_the_list_shows_the_projects_operations_newest_first(stack: Stack, made: Made) -> None:
    listed = _list(stack)
    assert listed.status_code == 200, listed.json
    shown = [
        (o["type"], o["resource_type"], o["resource_id"], o["status"])
        for o in listed.json["operations"]
    ]
    assert shown == [
        ("CreateVolume", "volume", made.volume, "completed"),
        ("BootServer", "server", made.server, "completed"),
    ]
    boot = listed.json["operations"][1]
    assert boot["workflow_id"] == server_workflow_id(made.server, "boot")
    assert boot["project_id"] == made.project and uuid.UUID(boot["run_id"])
    assert boot["started_at"] <= boot["closed_at"] and boot["seconds"] >= 0
    assert listed.json["next_marker"] is None


def test_filters_narrow_the_list(stack: Stack, made: Made) -> None:
    def types(**query: Any) -> list[str]:
        return [o["type"] for o in _list(stack, **query).json["operations"]]

    assert types(resource_type="volume") == ["CreateVolume"]
    assert types(resource_id=made.server) == ["BootServer"]
    assert types(status="completed") == ["CreateVolume", "BootServer"]
    assert types(status="failed") == []
    assert types(resource_type="server", status="running") == []


def test_pages_follow_the_marker(stack: Stack, made: Made) -> None:
    first = _list(stack, limit=1).json
    assert [o["type"] for o in first["operations"]] == ["CreateVolume"]
    (link,) = first["operations_links"]
    assert link["rel"] == "next" and f"marker={first['next_marker']}" in link["href"]
    second = _list(stack, limit=1, marker=first["next_marker"]).json
    assert [o["type"] for o in second["operations"]] == ["BootServer"]


def test_another_project_sees_none_of_them_and_cannot_show_them(stack: Stack, made: Made) -> None:
    listed = _list(stack, "bob")
    assert listed.status_code == 200 and listed.json["operations"] == []
    boot = server_workflow_id(made.server, "boot")
    assert _show(stack, boot, "bob").status_code == 404
    assert _show(stack, boot, "alice").status_code == 200
    assert _list(stack, "bob", project_id=made.project).status_code == 403
    assert _list(stack, "bob", all_projects=1).status_code == 403


def test_a_reader_lists_and_shows(stack: Stack, made: Made) -> None:
    assert len(_list(stack, "rita").json["operations"]) == 2
    shown = _show(stack, f"volume-{made.volume}-create", "rita")
    assert shown.status_code == 200 and shown.json["operation"]["status"] == "completed"


def test_an_admin_lists_any_project(stack: Stack, made: Made, image_file: Path) -> None:
    import_default_image(stack, image_file, "own-image", workflow=True)
    theirs = _list(stack, "admin", project_id=made.project).json["operations"]
    assert {o["resource_id"] for o in theirs} == {made.server, made.volume}
    everyone = _list(stack, "admin", all_projects=1, limit=200).json["operations"]
    assert {made.server, made.volume} <= {o["resource_id"] for o in everyone}
    own = _list(stack, "admin").json["operations"]
    assert [o["type"] for o in own] == ["ImportImage"]  # an image of its own


def test_one_operation_shows_its_steps(stack: Stack, made: Made) -> None:
    shown = _show(stack, server_workflow_id(made.server, "boot")).json["operation"]
    assert shown["type"] == "BootServer" and shown["failure"] is None
    names = [s["name"] for s in shown["steps"]]
    assert (
        names[0] == "place_bind_and_plan"
        and "launch_domain" in names
        and names[-1] == "mark_active"
    )
    assert {s["kind"] for s in shown["steps"]} == {"activity", "local_activity"}
    for step in shown["steps"]:
        assert step["result"] == "Success" and step["attempts"] == 1, step
        assert step["seconds"] >= 0 and step["started"] <= step["finished"]
        assert "error" not in step  # a member sees no step's error
    again = _show(stack, shown["workflow_id"], run_id=shown["run_id"]).json["operation"]
    assert again == shown
    assert _show(stack, shown["workflow_id"], run_id=str(uuid.uuid4())).status_code == 404


def test_a_retried_step_shows_its_attempts(stack: Stack, made: Made) -> None:
    stack.store.fail("create", BackendUnavailable("the pool is busy"))
    volume_id = _volume(stack, made.project)
    shown = _show(stack, f"volume-{volume_id}-create", "admin").json["operation"]
    create = shown["steps"][0]
    assert create["name"] == "create_volume_data" and create["result"] == "Success"
    assert create["attempts"] == 2 and create["error"] == "the pool is busy"
    assert shown["status"] == "completed"


def test_a_failed_steps_error_is_for_admins_and_the_failure_for_the_project(
    stack: Stack, made: Made
) -> None:
    stack.store.fail("create", InvalidSpec("no room in the pool"))
    workflow_id = f"volume-{_volume(stack, made.project)}-create"
    listed = _list(stack, status="failed").json["operations"]
    assert [o["workflow_id"] for o in listed] == [workflow_id]
    member = _show(stack, workflow_id).json["operation"]
    assert member["status"] == "failed" and "no room in the pool" in member["failure"]
    assert member["steps"][0]["result"] == "Error"
    assert all("error" not in s for s in member["steps"])
    admin = _show(stack, workflow_id, "admin").json["operation"]
    assert admin["steps"][0]["error"] == "no room in the pool"
    assert admin["steps"][1]["name"] == "delete_volume_data"  # the undo ran
    assert admin["steps"][1]["error"] is None


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"status": "exploded"},
        {"resource_type": "server' OR NimbusProject != '"},
        {"resource_id": "x y"},
        {"all_projects": "maybe"},
        {"marker": "not base64!"},
        {"marker": "eyJDbG9zZVRpbWUiOiJ4In0"},  # {"CloseTime":"x"}: not a real page token
        {"colour": "red"},
    ],
)
def test_bad_list_arguments_are_400(stack: Stack, query: dict[str, str]) -> None:
    answer = _list(stack, **query)
    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["message"]


def test_bad_show_arguments_are_400_and_unknown_operations_404(stack: Stack) -> None:
    assert _show(stack, "server-x-boot", run_id="nope").status_code == 400
    assert _show(stack, "server-x-boot", colour="red").status_code == 400
    assert _show(stack, "server-x-boot").status_code == 404
    assert stack.client.get(OPERATIONS).status_code == 401


def test_the_catalog_names_the_operations_api(stack: Stack) -> None:
    token = stack.token_info(stack.token("alice"))
    (entry,) = [s for s in token["catalog"] if s["type"] == "operations"]
    url = entry["endpoints"][0]["url"]
    assert url.endswith("/operations/v1")
    assert stack.client.get("/operations/v1").json["version"]["id"] == "v1"


# The history reader on histories the fake drivers do not make: timeouts, cancellations,
# child workflows, failed local activities, a terminated run.


def _history(*timed: tuple[int, Message]) -> list[HistoryEvent]:
    """Events numbered from 1, each ``(second, attributes)``: the attributes' message
    names the event's type and field (``ActivityTaskStartedEventAttributes`` ->
    ``activity_task_started_event_attributes``)."""
    events = []
    for event_id, (second, attributes) in enumerate(timed, start=1):
        name = type(attributes).__name__.removesuffix("EventAttributes")
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        event = HistoryEvent(
            event_id=event_id,
            event_type=E.Value(f"EVENT_TYPE_{snake.upper()}"),
            event_time=Timestamp(seconds=second),
        )
        getattr(event, f"{snake}_event_attributes").CopyFrom(attributes)
        events.append(event)
    return events


def _scheduled(event_id: int, name: str) -> ActivityTaskScheduledEventAttributes:
    return ActivityTaskScheduledEventAttributes(
        activity_id=str(event_id), activity_type=ActivityType(name=name)
    )


def test_a_step_retried_then_timed_out_or_canceled() -> None:
    timeout = Failure(message="activity StartToClose timeout")
    found = steps(
        _history(
            (0, _scheduled(1, "slow")),
            (5, ActivityTaskStartedEventAttributes(
                scheduled_event_id=1, attempt=3, last_failure=Failure(message="busy"))),
            (35, ActivityTaskTimedOutEventAttributes(scheduled_event_id=1, failure=timeout)),
            (36, _scheduled(4, "stopped")),
            (37, ActivityTaskCanceledEventAttributes(scheduled_event_id=4)),
            (38, _scheduled(6, "waiting")),
        )
    )  # fmt: skip
    slow, stopped, waiting = found
    assert (slow.result, slow.attempts, slow.seconds) == (TIMED_OUT, 3, 35.0)
    assert slow.error == "activity StartToClose timeout"
    assert (stopped.result, stopped.seconds) == (CANCELED, 1.0)
    assert (waiting.result, waiting.finished, waiting.attempts) == (RUNNING, None, 1)
    pending = PendingActivityInfo(activity_id="6", attempt=4, last_failure=Failure(message="x"))
    (_, _, retrying) = with_pending(found, [pending])
    assert (retrying.attempts, retrying.error) == (4, "x")


def test_child_workflows_are_steps() -> None:
    child = StartChildWorkflowExecutionInitiatedEventAttributes(
        workflow_id="paas-space-p", workflow_type=WorkflowType(name="EnsureSpace")
    )
    exists = StartChildWorkflowExecutionFailedCause.Value(
        "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS"
    )
    found = steps(
        _history(
            (0, child),
            (1, ChildWorkflowExecutionStartedEventAttributes(
                initiated_event_id=1, workflow_execution=WorkflowExecution(run_id="r1"))),
            (4, ChildWorkflowExecutionFailedEventAttributes(
                initiated_event_id=1, failure=Failure(message="no network"))),
            (5, child),
            (6, StartChildWorkflowExecutionFailedEventAttributes(
                initiated_event_id=4, cause=exists)),
        )
    )  # fmt: skip
    ran, never = found
    assert (ran.kind, ran.name, ran.workflow_id, ran.run_id) == (
        "child_workflow",
        "EnsureSpace",
        "paas-space-p",
        "r1",
    )
    assert (ran.result, ran.error, ran.seconds) == (ERROR, "no network", 4.0)
    assert (never.result, never.error) == (ERROR, "could not start: workflow already exists")


def test_a_failed_local_activity_and_a_terminated_run() -> None:
    data = Payloads(payloads=[Payload(data=b'{"activity_type": "bind_ports", "attempt": 2}')])
    events = _history(
        (10, WorkflowTaskStartedEventAttributes()),
        (12, MarkerRecordedEventAttributes(
            marker_name="core_local_activity", details={"data": data},
            failure=Failure(message="port taken"))),
        (12, MarkerRecordedEventAttributes(marker_name="version", details={"data": data})),
        (13, WorkflowExecutionTerminatedEventAttributes(reason="stuck")),
    )  # fmt: skip
    (local,) = steps(events)
    assert (local.kind, local.name, local.attempts) == ("local_activity", "bind_ports", 2)
    assert (local.result, local.error, local.seconds) == (ERROR, "port taken", 2.0)
    assert run_failure(events) == "terminated: stuck"
    assert run_failure(events[:1]) is None
