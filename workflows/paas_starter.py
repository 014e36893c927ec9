"""Starting PaaS workflows and talking to app supervisors: used by the API.

Not imported by workflow code. Ids derive from the app and build, and an existing run is
reused, so a retried request finds the operation already running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError

from nimbus.config import CONTROL_QUEUE, Settings
from nimbus.errors import Conflict, InvalidSpec, NimbusError
from workflows.app_backoff import Backoff
from workflows.app_delete import DeleteApp, DeleteAppInput
from workflows.app_stage import StageApp, StageAppInput
from workflows.app_supervisor import (
    Ack,
    AppSupervisor,
    DeployInput,
    ScaleInput,
    SupervisorInput,
    supervisor_id,
)
from workflows.common import PROJECT, RESOURCE_ID, RESOURCE_TYPE


def _attributes(project_id: str, app_id: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(PROJECT, project_id),
            SearchAttributePair(RESOURCE_TYPE, "app"),
            SearchAttributePair(RESOURCE_ID, app_id),
        ]
    )


async def start_stage(
    client: Client, project_id: str, app_id: str, build_id: str
) -> WorkflowHandle[Any, Any]:
    """Start (or find) the build's StageApp workflow."""
    return await client.start_workflow(
        StageApp.run,
        StageAppInput(build_id),
        id=f"app-{app_id}-build-{build_id}",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=_attributes(project_id, app_id),
    )


def supervisor_input(settings: Settings, project_id: str, app_id: str) -> SupervisorInput:
    """A new supervisor's input: the tick and backoff the settings say."""
    backoff = Backoff(
        first_seconds=settings.paas_backoff_first, cap_seconds=settings.paas_backoff_cap
    )
    return SupervisorInput(
        app_id,
        project_id,
        backoff,
        settings.paas_tick_seconds,
        liveness_grace=settings.paas_liveness_grace,
        drain_seconds=settings.paas_drain_seconds,
    )


async def supervisor(client: Client, inp: SupervisorInput) -> WorkflowHandle[Any, Any]:
    """The app's supervisor, started if it does not run."""
    app_id, project_id = inp.app_id, inp.project_id
    return await client.start_workflow(
        AppSupervisor.run,
        inp,
        id=supervisor_id(app_id),
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=_attributes(project_id, app_id),
    )


def _typed(exc: WorkflowUpdateFailedError) -> NimbusError:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        kind = {"Conflict": Conflict, "InvalidSpec": InvalidSpec}.get(cause.type or "", Conflict)
        return kind(cause.message)
    return Conflict(str(cause or exc))


async def update(client: Client, inp: SupervisorInput, name: str, arg: Any = None) -> Ack:
    """Send an update (``deploy``, ``scale``, ``stop``, ``start``, ``restart``,
    ``continue_deployment``, ``cancel_deployment``) to the app's supervisor, starting it if
    needed; a refusal becomes Conflict or InvalidSpec."""
    handle = await supervisor(client, inp)
    args = [] if arg is None else [arg]
    try:
        result: Ack = await handle.execute_update(name, *args, result_type=Ack)
    except WorkflowUpdateFailedError as exc:
        raise _typed(exc) from exc
    return result


async def deploy(
    client: Client,
    inp: SupervisorInput,
    release_id: str,
    instances: int,
    how: Strategy | None = None,
) -> Ack:
    """Deploy the release on ``instances`` instances, rolled out as ``how`` says."""
    how = how or Strategy()
    args = DeployInput(release_id, instances, how.strategy, how.max_in_flight, list(how.steps))
    return await update(client, inp, "deploy", args)


@dataclass(frozen=True)
class Strategy:
    """How a deployment rolls out (``nimbus app push --strategy ...``)."""

    strategy: str = "rolling"
    max_in_flight: int = 1
    steps: tuple[int, ...] = ()


async def scale(client: Client, inp: SupervisorInput, instances: int) -> Ack:
    return await update(client, inp, "scale", ScaleInput(instances))


async def start_delete(client: Client, project_id: str, app_id: str) -> WorkflowHandle[Any, Any]:
    """Start (or find) the app's DeleteApp workflow."""
    return await client.start_workflow(
        DeleteApp.run,
        DeleteAppInput(app_id),
        id=f"app-{app_id}-delete",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=_attributes(project_id, app_id),
    )
