"""Starting server workflows: used by the API and by the worker's reconciler.

Not imported by workflow code. Ids derive from the server id and an existing run is
reused, so a retried request or a reconcile pass finds the operation already running.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.drift import DriftReport
from activities.records import LockInput
from activities.volumes import (
    CreateVolumeDataInput,
    ExtendVolumeDataInput,
    SnapshotRef,
    VolumeRef,
)
from nimbus.config import CONTROL_QUEUE
from workflows.common import PROJECT, RESOURCE_ID, RESOURCE_TYPE, SERVER_ID, server_workflow_id
from workflows.hostsync import SyncHostInput, SyncHostNetworks
from workflows.image import (
    CreateServerImage,
    CreateServerImageInput,
    DeleteImage,
    DeleteImageInput,
    ImportImage,
    ImportImageWorkflowInput,
)
from workflows.reconcile import RECONCILE_ID, ReconcileCloud, ReconcileInput
from workflows.server import (
    BootServer,
    ConsoleInput,
    DeleteServer,
    GetConsoleOutput,
    PowerInput,
    ServerInput,
    StartServer,
    StopServer,
)
from workflows.server_interface import AttachInterface, DetachInterface, InterfaceInput
from workflows.server_lock import LockServer
from workflows.server_move import (
    ConfirmMigration,
    EvacuateServer,
    MigrateServer,
    MoveInput,
    RevertMigration,
)
from workflows.server_reboot import RebootInput, RebootServer
from workflows.server_rebuild import RebuildInput, RebuildServer
from workflows.server_resize import ConfirmResize, ResizeInput, ResizeServer, RevertResize
from workflows.server_state import ChangeServerState, StateInput
from workflows.server_volume import BootVolumeServer, VolumeBootInput
from workflows.server_volume_actions import (
    RebuildVolumeServer,
    ResizeVolumeServer,
    RevertVolumeResize,
)
from workflows.volume import (
    AttachVolume,
    AttachVolumeInput,
    CreateSnapshot,
    CreateVolume,
    DeleteSnapshot,
    DeleteVolume,
    DetachVolume,
    ExtendVolume,
    RevertVolume,
)


def _attributes(
    project_id: str, resource_id: str, kind: str = "server", server_id: str | None = None
) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(PROJECT, project_id),
        SearchAttributePair(RESOURCE_TYPE, kind),
        SearchAttributePair(RESOURCE_ID, resource_id),
    ]
    if server_id is not None:
        pairs.append(SearchAttributePair(SERVER_ID, server_id))
    return TypedSearchAttributes(pairs)


async def _start(
    client: Client,
    run: Any,
    arg: Any,
    operation: str,
    project_id: str,
    server_id: str,
    reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    conflict: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.USE_EXISTING,
) -> WorkflowHandle[Any, Any]:
    """Start the operation's workflow, or find it: running, or already ended well (a
    retried request whose operation completed meanwhile gets that one, not a new one)."""
    workflow_id = server_workflow_id(server_id, operation)
    try:
        return await client.start_workflow(
            run,
            arg,
            id=workflow_id,
            task_queue=CONTROL_QUEUE,
            id_conflict_policy=conflict,
            id_reuse_policy=reuse,
            search_attributes=_attributes(project_id, server_id),
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id)


async def start_boot(client: Client, project_id: str, server_id: str) -> WorkflowHandle[Any, Any]:
    """Start (or find) the server's BootServer workflow."""
    return await _start(
        client, BootServer.run, ServerInput(server_id), "boot", project_id, server_id
    )


async def start_volume_boot(
    client: Client, project_id: str, inp: VolumeBootInput
) -> WorkflowHandle[Any, Any]:
    """Start (or find) a volume-backed server's boot; the same id as an image boot, so
    delete and retries find it the same way."""
    return await _start(client, BootVolumeServer.run, inp, "boot", project_id, inp.server_id)


async def start_delete(client: Client, project_id: str, server_id: str) -> WorkflowHandle[Any, Any]:
    """Cancel a boot in flight, then start (or find) the server's DeleteServer workflow."""
    boot = client.get_workflow_handle(server_workflow_id(server_id, "boot"))
    try:
        await boot.cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    return await _start(
        client, DeleteServer.run, ServerInput(server_id), "delete", project_id, server_id
    )


#: Operations a server may go through again and again (power, reboot, pause...). The API
#: starts one only while the server has no task, so a run still open under the same id has
#: already recorded its outcome and is only finishing (a retry of its last step, which
#: then changes nothing): it is ended, and the new request gets a run of its own instead
#: of being taken for that one.
_REPEATED = WorkflowIDConflictPolicy.TERMINATE_EXISTING


async def start_power(
    client: Client, project_id: str, server_id: str, host: str, on: bool
) -> WorkflowHandle[Any, Any]:
    """Start a StartServer or StopServer workflow."""
    run = StartServer.run if on else StopServer.run
    operation = "start" if on else "stop"
    arg = PowerInput(server_id, host)
    reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    return await _start(client, run, arg, operation, project_id, server_id, reuse, _REPEATED)


async def start_reboot(
    client: Client, project_id: str, inp: RebootInput
) -> WorkflowHandle[Any, Any]:
    """Start a RebootServer workflow (a server may be rebooted again and again)."""
    reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    return await _start(
        client, RebootServer.run, inp, "reboot", project_id, inp.server_id, reuse, _REPEATED
    )


async def start_rebuild(
    client: Client, project_id: str, inp: RebuildInput, volume_backed: bool = False
) -> WorkflowHandle[Any, Any]:
    """Start a RebuildServer workflow, or RebuildVolumeServer for a volume-backed server
    (a server may be rebuilt again and again)."""
    reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    run = RebuildVolumeServer.run if volume_backed else RebuildServer.run
    return await _start(client, run, inp, "rebuild", project_id, inp.server_id, reuse, _REPEATED)


async def start_resize(
    client: Client,
    project_id: str,
    operation: str,
    inp: ResizeInput,
    volume_backed: bool = False,
) -> WorkflowHandle[Any, Any]:
    """Start a resize, or its confirmation or revert (``operation``: ``resize``,
    ``confirm-resize``, ``revert-resize``); a volume-backed server's keep its volume."""
    run = {
        "resize": ResizeVolumeServer.run if volume_backed else ResizeServer.run,
        "confirm-resize": ConfirmResize.run,
        "revert-resize": RevertVolumeResize.run if volume_backed else RevertResize.run,
    }[operation]
    reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    return await _start(client, run, inp, operation, project_id, inp.server_id, reuse, _REPEATED)


#: Each step of a move by its operation name (``server-<id>-<operation>-<migration id>``).
_MOVES: dict[str, Any] = {
    "migrate": MigrateServer.run,
    "confirm-migration": ConfirmMigration.run,
    "revert-migration": RevertMigration.run,
    "evacuate": EvacuateServer.run,
}


async def start_move(
    client: Client, project_id: str, operation: str, inp: MoveInput
) -> WorkflowHandle[Any, Any]:
    """Start (or find) a cold migration, its confirmation or revert, or an evacuation
    (``operation``: ``migrate``, ``confirm-migration``, ``revert-migration``,
    ``evacuate``); one workflow per step of each migration record."""
    run = _MOVES[operation]
    name = f"{operation}-{inp.migration_id}"
    return await _start(client, run, inp, name, project_id, inp.server_id)


async def start_state_change(
    client: Client, project_id: str, inp: StateInput
) -> WorkflowHandle[Any, Any]:
    """Start a pause, unpause, suspend or resume of the server."""
    reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    run = ChangeServerState.run
    return await _start(client, run, inp, inp.action, project_id, inp.server_id, reuse, _REPEATED)


async def attach_interface(client: Client, project_id: str, inp: InterfaceInput) -> None:
    """Run (or join) the port's AttachInterface to its end: Nova answers once the NIC is
    plugged in, with the attachment."""
    handle = await _start(
        client,
        AttachInterface.run,
        inp,
        f"attach-interface-{inp.port_id}",
        project_id,
        inp.server_id,
        WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    await handle.result()


async def detach_interface(
    client: Client, project_id: str, inp: InterfaceInput
) -> WorkflowHandle[Any, Any]:
    """Start (or find) the port's DetachInterface."""
    return await _start(
        client,
        DetachInterface.run,
        inp,
        f"detach-interface-{inp.port_id}",
        project_id,
        inp.server_id,
        WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def console_output(
    client: Client, project_id: str, server_id: str, host: str, max_lines: int | None
) -> str:
    """Run GetConsoleOutput to completion and return the text."""
    return await client.execute_workflow(
        GetConsoleOutput.run,
        ConsoleInput(server_id, host, max_lines),
        id=f"{server_workflow_id(server_id, 'console')}",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=_attributes(project_id, server_id),
    )


async def import_image(
    client: Client, project_id: str, image_id: str, staging_path: str, host: str, fmt: str
) -> None:
    """Run (or join) the image's ImportImage workflow to its end."""
    arg = ImportImageWorkflowInput(image_id, staging_path, host, fmt)
    await client.execute_workflow(
        ImportImage.run,
        arg,
        id=f"image-{image_id}-import",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=_attributes(project_id, image_id, "image"),
    )


async def delete_image(client: Client, project_id: str, image_id: str, host: str) -> None:
    """Run (or join) the image's DeleteImage workflow to its end."""
    await client.execute_workflow(
        DeleteImage.run,
        DeleteImageInput(image_id, host),
        id=f"image-{image_id}-delete",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=_attributes(project_id, image_id, "image"),
    )


async def _volume_op(
    client: Client,
    run: Any,
    arg: Any,
    wid: str,
    project_id: str,
    resource_id: str,
    kind: str = "volume",
    wait: bool = False,
    server_id: str | None = None,
) -> Any:
    """Start (or find) a volume workflow; with ``wait``, run it to its end. One done for
    a server (an attach, a detach, a server image) names it, as an instance action."""
    start = client.execute_workflow if wait else client.start_workflow
    return await start(
        run,
        arg,
        id=wid,
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=_attributes(project_id, resource_id, kind, server_id),
    )


async def create_volume(
    client: Client,
    project_id: str,
    volume_id: str,
    size_gib: int,
    image_id: str | None = None,
    snapshot_id: str | None = None,
    source_volume_id: str | None = None,
) -> Any:
    arg = CreateVolumeDataInput(volume_id, size_gib, image_id, source_volume_id, snapshot_id)
    return await _volume_op(
        client, CreateVolume.run, arg, f"volume-{volume_id}-create", project_id, volume_id
    )


async def delete_volume(client: Client, project_id: str, volume_id: str) -> Any:
    return await _volume_op(
        client,
        DeleteVolume.run,
        VolumeRef(volume_id),
        f"volume-{volume_id}-delete",
        project_id,
        volume_id,
    )


async def extend_volume(client: Client, project_id: str, volume_id: str, size_gib: int) -> Any:
    arg = ExtendVolumeDataInput(volume_id, size_gib)
    return await _volume_op(
        client, ExtendVolume.run, arg, f"volume-{volume_id}-extend", project_id, volume_id
    )


async def revert_volume(client: Client, project_id: str, volume_id: str, snapshot_id: str) -> Any:
    """Start (or find) the volume's revert to its latest snapshot."""
    return await _volume_op(
        client,
        RevertVolume.run,
        SnapshotRef(volume_id, snapshot_id),
        f"volume-{volume_id}-revert",
        project_id,
        volume_id,
    )


async def create_snapshot(client: Client, project_id: str, volume_id: str, snapshot_id: str) -> Any:
    return await _volume_op(
        client,
        CreateSnapshot.run,
        SnapshotRef(volume_id, snapshot_id),
        f"snapshot-{snapshot_id}-create",
        project_id,
        snapshot_id,
        "snapshot",
    )


async def delete_snapshot(client: Client, project_id: str, volume_id: str, snapshot_id: str) -> Any:
    """Run to its end: a snapshot still cloned from is refused, and the caller says so."""
    return await _volume_op(
        client,
        DeleteSnapshot.run,
        SnapshotRef(volume_id, snapshot_id),
        f"snapshot-{snapshot_id}-delete",
        project_id,
        snapshot_id,
        "snapshot",
        wait=True,
    )


async def attach_volume(client: Client, project_id: str, arg: AttachVolumeInput) -> str:
    """Run AttachVolume to its end; return the device the volume got."""
    volume_id, server_id = arg.volume_id, arg.server_id
    device: str = await _volume_op(
        client,
        AttachVolume.run,
        arg,
        f"volume-{volume_id}-attach-{server_id}",
        project_id,
        volume_id,
        wait=True,
        server_id=server_id,
    )
    return device


async def detach_volume(client: Client, project_id: str, volume_id: str, server_id: str) -> Any:
    return await _volume_op(
        client,
        DetachVolume.run,
        VolumeRef(volume_id),
        f"volume-{volume_id}-detach",
        project_id,
        volume_id,
        server_id=server_id,
    )


async def create_server_image(
    client: Client, project_id: str, server_id: str, image_id: str, host: str
) -> Any:
    """Start the CreateServerImage workflow (``createImage``); the image shows its progress."""
    arg = CreateServerImageInput(server_id, image_id, host)
    return await _volume_op(
        client,
        CreateServerImage.run,
        arg,
        f"image-{image_id}-from-server",
        project_id,
        image_id,
        "image",
        server_id=server_id,
    )


async def set_lock(client: Client, project_id: str, inp: LockInput) -> None:
    """Run LockServer (``lock`` or ``unlock``) to its end: Nova answers once it holds."""
    reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    operation = "lock" if inp.locked else "unlock"
    handle = await _start(client, LockServer.run, inp, operation, project_id, inp.server_id, reuse)
    await handle.result()


async def sync_host_networks(client: Client, host: str) -> WorkflowHandle[Any, Any]:
    """Start (or find) the reconcile of ``host``'s network data plane with the rows."""
    return await client.start_workflow(
        SyncHostNetworks.run,
        SyncHostInput(host),
        id=f"host-{host}-network-sync",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def ensure_reconcile_schedule(client: Client, every: timedelta) -> None:
    """The reconciler's Temporal schedule: a pass every ``every`` (a pass still running
    when the next is due makes it skip); made if missing, its interval set if not."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileCloud.run,
            ReconcileInput(),
            id=f"{RECONCILE_ID}-pass",
            task_queue=CONTROL_QUEUE,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(RECONCILE_ID, schedule)
    except ScheduleAlreadyRunningError:

        async def interval(update: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(RECONCILE_ID).update(interval)


async def reconcile_now(client: Client) -> DriftReport:
    """Run one reconcile pass to its end (``nimbus reconcile``)."""
    report: DriftReport = await client.execute_workflow(
        ReconcileCloud.run,
        ReconcileInput(),
        id=f"{RECONCILE_ID}-now",
        task_queue=CONTROL_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    return report
