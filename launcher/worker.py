"""The worker process: Temporal workers for the control queue and this host's queue,
plus the host agent (heartbeat, power-state sync, reconcile).
"""

from __future__ import annotations

import asyncio
import compileall
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities.compute import ComputeActivities
from activities.drift import DriftRecords, HostInventoryActivities, StoreInventoryActivities
from activities.image_records import ImageRecords
from activities.images import ImageActivities
from activities.interfaces import InterfaceActivities, InterfaceRecords
from activities.moves import MoveRecords
from activities.network_host import HostNetworkRecords, HostNetworkState
from activities.network_ops import NetworkActivities
from activities.network_records import NetworkRecords
from activities.object_store import ObjectStoreActivities
from activities.paas_cloud import PaasCloudActivities
from activities.paas_databases import DatabaseServers
from activities.paas_logs import LogShipper
from activities.paas_records import PaasRecords
from activities.paas_router import ROUTER_QUEUE, RouterActivities
from activities.paas_services import ServiceActivities
from activities.paas_staging import StagingActivities
from activities.paas_temporal import PaasTemporalOps
from activities.records import ServerRecords
from activities.server_ports import ServerPortRecords
from activities.temporal_ops import TemporalOps
from activities.volume_boot import VolumeBootRecords
from activities.volume_records import VolumeRecords
from activities.volumes import AttachActivities, VolumeActivities
from launcher.bootstrap import paas_password_path
from launcher.drivers import HostDrivers
from launcher.hostagent import HostAgent
from nimbus import temporal
from nimbus.config import CONTROL_QUEUE, Settings
from nimbus.db import PAAS_USER, Database
from observability.context import RequestIdInterceptor
from observability.temporal import MetricsInterceptor
from paas.cloudapi import CloudApi
from workflows.registry import WORKFLOWS

log = logging.getLogger(__name__)

#: Modules the workflow sandbox shares with the worker instead of re-importing: the metric
#: objects must be the ones the worker's /metrics endpoint exposes.
_PASSTHROUGH = ("observability", "prometheus_client", "nimbus", "activities")


#: What the sandbox lets workflows import, and which modules it shares with the worker.
SANDBOX_RESTRICTIONS = SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH)


def sandboxed_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox, which refuses whatever a workflow must not do (the clock, random
    numbers, I/O) at the moment it is done: every test stack and every replay of a
    recorded history runs workflows in it, and so do the cloud's workers with
    ``NIMBUS_WORKFLOW_SANDBOX=on``."""
    compile_workflows()
    return SandboxedWorkflowRunner(restrictions=SANDBOX_RESTRICTIONS)


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """What the cloud's workers run workflows in: outside the sandbox unless the settings
    ask for it. The sandbox loads a workflow's modules again for every run and checks each
    call: a boot spent 70 to 90 ms of CPU in it (half of its workflow tasks' time), and
    every cached run held its own copy of the modules. The tests hold the workflows to it
    instead (every workflow the suites run, and every recorded history, runs sandboxed,
    and tests/unit/test_workflow_determinism.py reads the workflow modules for calls the
    sandbox would refuse)."""
    return sandboxed_runner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


def compile_workflows() -> None:
    """Write the bytecode of the ``workflows`` package beside its sources, even where
    ``PYTHONDONTWRITEBYTECODE`` is set: the sandbox loads a workflow's modules again for
    every workflow run, and without their bytecode it compiles them again each time (a
    third of a boot's first workflow task). Files already compiled are left as they are;
    a folder that cannot be written only costs that time back."""
    compileall.compile_dir(Path(workflows.__file__).parent, quiet=2)


async def connect(settings: Settings) -> Client:
    """A Temporal client for the configured server and namespace."""
    return await temporal.connect(settings)


def build_workers(
    client: Client,
    db: Database,
    control_activities: Sequence[Callable[..., Any]],
    host_activities: Sequence[Callable[..., Any]],
    host_queue: str,
    executor: ThreadPoolExecutor,
    runner: WorkflowRunner,
    extra_interceptors: Sequence[Interceptor] = (),
) -> list[Worker]:
    """One worker for workflows and host-independent activities, one for this host."""
    interceptors = [RequestIdInterceptor(), MetricsInterceptor(), *extra_interceptors]
    control = Worker(
        client,
        task_queue=CONTROL_QUEUE,
        workflows=WORKFLOWS,
        activities=[
            *ServerRecords(db).all(),
            *MoveRecords(db).all(),
            *DriftRecords(db).all(),
            *ImageRecords(db).all(),
            *VolumeRecords(db).all(),
            *VolumeBootRecords(db).all(),
            *NetworkRecords(db).all(),
            *ServerPortRecords(db).all(),
            *InterfaceRecords(db).all(),
            *HostNetworkRecords(db).all(),
            *PaasRecords(db).all(),
            *TemporalOps(client).all(),
            *PaasTemporalOps(client).all(),
            *control_activities,
        ],
        activity_executor=executor,
        workflow_runner=runner,
        interceptors=interceptors,
    )
    host = Worker(
        client,
        task_queue=host_queue,
        activities=host_activities,
        activity_executor=executor,
        interceptors=interceptors,
    )
    return [control, host]


def router_worker(
    client: Client,
    drivers: HostDrivers,
    executor: ThreadPoolExecutor,
    extra_interceptors: Sequence[Interceptor] = (),
) -> list[Worker]:
    """A worker for the router's queue, on the host that runs the router."""
    if drivers.router is None:
        return []
    return [
        Worker(
            client,
            task_queue=ROUTER_QUEUE,
            activities=RouterActivities(drivers.router).all(),
            activity_executor=executor,
            interceptors=[RequestIdInterceptor(), MetricsInterceptor(), *extra_interceptors],
        )
    ]


async def ship_logs(shipper: LogShipper, stop: asyncio.Event, every: float = 1.0) -> None:
    """Move app instances' output into their apps' logs until ``stop``."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(shipper.ship_all)
        except Exception:  # noqa: BLE001 - a bad pass must not end shipping
            log.exception("shipping app logs failed")
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


async def run(
    settings: Settings,
    drivers: HostDrivers,
    stop: asyncio.Event,
    interceptors: Sequence[Interceptor] = (),
    runner: WorkflowRunner | None = None,
) -> None:
    """Run the workers and the host agent until ``stop`` is set; ``runner`` is what runs
    the workflows (``workflow_runner(settings)`` unless given)."""
    client = await connect(settings)
    db = Database(settings.db_url)
    compute = ComputeActivities(
        drivers.hypervisor, drivers.store, settings.instances_dir, settings.instance_prefix
    )
    cloud = PaasCloudActivities(
        CloudApi(
            settings.public_url,
            PAAS_USER,
            paas_password_path(settings),
            verify=settings.api_verify,
        ),
        db,
    )
    shipper = LogShipper(db, settings.instances_dir)
    host_activities = [
        *compute.all(),
        *shipper.all(),
        cloud.upload_droplet,
        *ImageActivities(drivers.store).all(),
        *AttachActivities(drivers.hypervisor, settings.instance_prefix).all(),
        *InterfaceActivities(drivers.hypervisor, settings.instance_prefix).all(),
        *NetworkActivities(drivers.network).all(),
        *(
            StagingActivities(db, settings.paas_dir, drivers.droplets).all()
            if drivers.droplets
            else []
        ),
        *HostNetworkState(drivers.network).all(),
        *HostInventoryActivities(
            drivers.hypervisor, drivers.network, settings.instance_prefix
        ).all(),
    ]
    control_activities = [
        *VolumeActivities(drivers.store).all(),
        *StoreInventoryActivities(drivers.store).all(),
        *ObjectStoreActivities(drivers.object_store, db).all(),
        *ServiceActivities(drivers.object_store, db, DatabaseServers(cloud)).all(),
        *cloud.all(),
    ]
    agent = HostAgent(settings, db, drivers.hypervisor, client)
    with ThreadPoolExecutor(max_workers=16) as executor:
        workers = build_workers(
            client,
            db,
            control_activities,
            host_activities,
            settings.host_queue,
            executor,
            runner or workflow_runner(settings),
            interceptors,
        )
        if settings.control_worker:
            workers += router_worker(client, drivers, executor, interceptors)
        else:
            workers = workers[1:]  # a compute-only host polls its own queue alone
        tasks = [asyncio.create_task(w.run()) for w in workers]
        tasks.append(asyncio.create_task(agent.run(stop)))
        tasks.append(asyncio.create_task(ship_logs(shipper, stop)))
        queues = [CONTROL_QUEUE] if settings.control_worker else []
        queues.append(settings.host_queue)
        log.info("worker %s polling %s", os.getpid(), " and ".join(queues))
        await stop.wait()
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)
