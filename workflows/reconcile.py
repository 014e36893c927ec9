"""The reconciler: one pass compares the rows with what each host and Ceph really hold
(``activities.drift``), records the drift, and repairs the rows whose objects vanished.
``nimbus up`` runs it on a Temporal schedule (``nimbus-reconcile``, every
``NIMBUS_RECONCILE_SECONDS``); ``nimbus reconcile`` runs a pass at once.

A host whose worker does not take its inventory within a minute is skipped: its findings
stay open until a pass reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

from workflows.common import STEP_FAILED, run_activity

with workflow.unsafe.imports_passed_through():
    from activities.drift import (
        CompareInput,
        DriftRecords,
        DriftReport,
        HostInventory,
        HostInventoryActivities,
        StoreInventory,
        StoreInventoryActivities,
        StoreRef,
    )
    from activities.network_host import HostRef
    from nimbus.config import host_queue

RECONCILE_ID = "nimbus-reconcile"


@dataclass(frozen=True)
class ReconcileInput:
    pass


@workflow.defn
class ReconcileCloud:
    @workflow.run
    async def run(self, inp: ReconcileInput) -> DriftReport:
        hosts: tuple[str, ...] = await run_activity(DriftRecords.hosts_to_check, StoreRef())
        inventories: list[HostInventory] = []
        for host in hosts:
            try:
                found: HostInventory = await run_activity(
                    HostInventoryActivities.host_inventory,
                    HostRef(host),
                    host_queue(host),
                    schedule_to_start_timeout=timedelta(minutes=1),
                )
                inventories.append(found)
            except STEP_FAILED as exc:
                workflow.logger.warning("host %s skipped: %s", host, exc)
        store: StoreInventory = await run_activity(
            StoreInventoryActivities.store_inventory, StoreRef()
        )
        report: DriftReport = await run_activity(
            DriftRecords.compare, CompareInput(tuple(inventories), store)
        )
        return report
