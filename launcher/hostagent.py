"""The host agent: keeps this host's row alive, server statuses true to the hypervisor,
restarts operations whose workflow never started (an API crash between insert and
start), and reconciles the host's network devices with the rows when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import shutil

from sqlalchemy import select, update
from temporalio.client import Client
from temporalio.service import RPCError

from activities.hypervisor.base import HypervisorDriver, PowerState
from nimbus.config import Settings
from nimbus.db import Database, Host, Server, utcnow
from nimbus.db_compute import evacuated_from
from nimbus.errors import NimbusError
from workflows import starter

log = logging.getLogger(__name__)

#: A row in BUILD or being deleted for this long without progress gets its workflow again.
RECONCILE_AFTER = dt.timedelta(seconds=60)

#: What a server's status becomes for each domain power state.
_STATUS = {
    PowerState.RUNNING: "ACTIVE",
    PowerState.PAUSED: "PAUSED",
    PowerState.SUSPENDED: "SUSPENDED",
    PowerState.SHUTDOWN: "SHUTOFF",
    PowerState.CRASHED: "SHUTOFF",
    PowerState.NOSTATE: "SHUTOFF",
}


class HostAgent:
    """Periodic duties of one hypervisor host's worker."""

    def __init__(
        self, settings: Settings, db: Database, hypervisor: HypervisorDriver, client: Client
    ) -> None:
        self.settings = settings
        self.db = db
        self.hypervisor = hypervisor
        self.client = client

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``power_sync_seconds`` until ``stop``; reconcile every 30 ticks.

        First, once this host is registered, its network devices are reconciled with the
        rows (a rebooted host gets its bridges, DHCP servers, routers and filters back);
        a host that is new (or whose VTEP moved) has every other host reconciled too, so
        their VXLANs flood to it."""
        ticks = 0
        synced = False
        try:
            await asyncio.to_thread(self.clean_evacuated)
        except (NimbusError, OSError) as exc:
            log.warning("cleaning up after evacuations failed: %s", exc)
        while not stop.is_set():
            try:
                if await asyncio.to_thread(self.heartbeat):
                    await self.announce()
                if not synced:
                    await starter.sync_host_networks(self.client, self.settings.host_name)
                    synced = True
                await asyncio.to_thread(self.sync_power_states)
                if ticks % 30 == 0:
                    await self.reconcile()
                    # An evacuation that ended after this host came back.
                    await asyncio.to_thread(self.clean_evacuated)
            except (NimbusError, OSError, RPCError) as exc:
                log.warning("host agent tick failed: %s", exc)
            ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.power_sync_seconds)

    def heartbeat(self) -> bool:
        """Register or refresh this host, with its capacity, what the scheduler may place
        on it, and its VTEP (an admin's disabling stays); True if the host is
        new or its VTEP changed (the other hosts' flood lists must learn it)."""
        with self.db.session() as s:
            host = s.get(Host, self.settings.host_name)
            if host is None:
                host = Host(name=self.settings.host_name, vcpus=0, memory_mib=0)
                s.add(host)
            vtep = self.settings.vtep_address or None
            moved = host.vtep_address != vtep
            host.vcpus, host.memory_mib = _capacity()
            host.vtep_address = vtep
            host.network_node = self.settings.network_node
            host.cpu_allocation_ratio = self.settings.cpu_allocation_ratio
            host.ram_allocation_ratio = self.settings.ram_allocation_ratio
            host.reserved_memory_mib = self.settings.reserved_host_memory_mib
            host.availability_zone = self.settings.availability_zone
            host.heartbeat_at = utcnow()
            return moved

    def clean_evacuated(self) -> list[str]:
        """Destroy the domains of servers evacuated from this host while it was down
        (their disks stay: they run from them elsewhere now), and mark those
        evacuations ``completed``, as nova-compute does when it starts; the ids cleaned.

        Runs before this host beats again, so no server is placed back here meanwhile;
        a server whose row says it is here again keeps its domain."""
        cleaned = []
        with self.db.session() as s:
            for move in evacuated_from(s, self.settings.host_name):
                server = s.get(Server, move.server_id)
                if server is None or server.host != self.settings.host_name:
                    self.hypervisor.destroy(self.settings.instance_prefix + move.server_id)
                    shutil.rmtree(self.settings.instances_dir / move.server_id, ignore_errors=True)
                    cleaned.append(move.server_id)
                move.status = "completed"
        for server_id in cleaned:
            log.info("destroyed server %s, evacuated from this host", server_id)
        return cleaned

    async def announce(self) -> list[str]:
        """Reconcile every other host's network devices; return their names."""
        with self.db.session() as s:
            others = s.scalars(select(Host.name).where(Host.name != self.settings.host_name))
            names = sorted(others)
        for name in names:
            await starter.sync_host_networks(self.client, name)
        return names

    def sync_power_states(self) -> int:
        """Make idle servers' statuses follow their domains; return how many changed.

        Rows are read before the hypervisor and updated only if unchanged since, so a
        workflow that moves a server meanwhile always wins.
        """
        with self.db.session() as s:
            rows = s.execute(
                select(Server.id, Server.status, Server.power_state).where(
                    Server.host == self.settings.host_name,
                    Server.deleted_at.is_(None),
                    Server.task_state.is_(None),
                    Server.status.in_(["ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"]),
                )
            ).all()
        states = self.hypervisor.power_states(self.settings.instance_prefix)
        changed = 0
        for server_id, status, power in rows:
            state = states.get(self.settings.instance_prefix + server_id, PowerState.NOSTATE)
            if (_STATUS[state], state.value) != (status, power):
                changed += self._set_status(server_id, status, state)
        return changed

    def _set_status(self, server_id: str, old_status: str, state: PowerState) -> int:
        with self.db.session() as s:
            result = s.execute(
                update(Server)
                .where(
                    Server.id == server_id,
                    Server.status == old_status,
                    Server.task_state.is_(None),
                    Server.deleted_at.is_(None),
                )
                .values(status=_STATUS[state], power_state=state.value)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def reconcile(self) -> None:
        """Start (or find) the workflow of every operation that stalled without one."""
        boots, deletes = await asyncio.to_thread(self._stalled)
        for server_id, project_id in boots:
            await starter.start_boot(self.client, project_id, server_id)
        for server_id, project_id in deletes:
            await starter.start_delete(self.client, project_id, server_id)

    def _stalled(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        before = utcnow() - RECONCILE_AFTER
        with self.db.session() as s:
            stale = s.execute(
                select(Server.id, Server.project_id, Server.task_state).where(
                    Server.deleted_at.is_(None),
                    Server.updated_at < before,
                    (Server.status == "BUILD") | (Server.task_state == "deleting"),
                )
            ).all()
        boots = [(sid, pid) for sid, pid, task in stale if task != "deleting"]
        deletes = [(sid, pid) for sid, pid, task in stale if task == "deleting"]
        return boots, deletes


def _capacity() -> tuple[int, int]:
    """This host's CPUs and memory (MiB), as the guests may use them."""
    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return os.cpu_count() or 1, pages * page_size // (1024 * 1024)
