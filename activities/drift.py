"""The reconciler's activities: what exists (each host's domains and network devices,
Ceph's server disks and volume images) and the comparison with the rows.

A finding is recorded in ``nimbus.db_drift``; orphans are reported and left alone, and a
row whose object vanished is repaired to say so (a server in ERROR, a volume in
``error``). Rows that changed after the inventory was taken are left for the next pass,
so an operation in flight is never taken for drift.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from temporalio import activity

from activities.hypervisor.base import HypervisorDriver
from activities.network.base import NetworkDriver, bridge_name
from activities.network_host import HostRef
from activities.storage.block import VMS, VOLUMES, BlockStore
from nimbus.db import Database, Host, Server, Volume, utcnow
from nimbus.db_compute import EVACUATION_DONE, Migration
from nimbus.db_drift import (
    MISSING_DISK,
    MISSING_VOLUME,
    ORPHAN_BRIDGE,
    ORPHAN_DISK,
    ORPHAN_DOMAIN,
    ORPHAN_NETWORK,
    ORPHAN_VOLUME,
    Drift,
)
from nimbus.db_network import Network
from nimbus.scheduler import is_up

log = logging.getLogger(__name__)

DISK_SUFFIX, VOLUME_PREFIX = "_disk", "volume-"
#: Server statuses whose root disk must exist (not BUILD, not ERROR, not being deleted).
_SETTLED = ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "VERIFY_RESIZE")


@dataclass(frozen=True)
class HostInventory:
    host: str
    #: Server ids of the domains with the cloud's prefix.
    domains: tuple[str, ...]
    #: Ids of the networks whose devices are on the host.
    networks: tuple[str, ...]
    #: When it was taken (ISO 8601, UTC).
    taken_at: str
    #: The bridges named as networks' are, whoever made them.
    bridges: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoreRef:
    pass


@dataclass(frozen=True)
class StoreInventory:
    #: Server ids with a root disk in ``vms``.
    disks: tuple[str, ...]
    #: Volume ids with an image in ``volumes``.
    volumes: tuple[str, ...]
    taken_at: str


@dataclass(frozen=True)
class CompareInput:
    hosts: tuple[HostInventory, ...]
    store: StoreInventory


@dataclass(frozen=True)
class DriftReport:
    """Open findings by kind after the pass, and what it found new or repaired."""

    open: dict[str, int] = field(default_factory=dict)
    found: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()
    resolved: int = 0


def _now_iso() -> str:
    return utcnow().isoformat()


class HostInventoryActivities:
    """What one host has (its own queue)."""

    def __init__(self, hypervisor: HypervisorDriver, network: NetworkDriver, prefix: str) -> None:
        self.hypervisor, self.network, self.prefix = hypervisor, network, prefix

    @activity.defn
    def host_inventory(self, inp: HostRef) -> HostInventory:
        """The host's domains (by server id) and network devices (by network id)."""
        taken = _now_iso()
        domains = sorted(
            name.removeprefix(self.prefix) for name in self.hypervisor.power_states(self.prefix)
        )
        networks = sorted(self.network.state().networks)
        bridges = sorted(self.network.bridges())
        return HostInventory(inp.host, tuple(domains), tuple(networks), taken, tuple(bridges))

    def all(self) -> list[Callable[..., Any]]:
        return [self.host_inventory]


class StoreInventoryActivities:
    """What Ceph holds for servers and volumes (control queue)."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    @activity.defn
    def store_inventory(self, inp: StoreRef) -> StoreInventory:
        taken = _now_iso()
        disks = [
            n.removesuffix(DISK_SUFFIX) for n in self.store.names(VMS) if n.endswith(DISK_SUFFIX)
        ]
        volumes = [
            n.removeprefix(VOLUME_PREFIX)
            for n in self.store.names(VOLUMES)
            if n.startswith(VOLUME_PREFIX)
        ]
        return StoreInventory(tuple(sorted(disks)), tuple(sorted(volumes)), taken)

    def all(self) -> list[Callable[..., Any]]:
        return [self.store_inventory]


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    host: str = ""
    detail: str = ""
    repaired: bool = False


class DriftRecords:
    """The comparison with the rows, and the drift table (control queue)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def hosts_to_check(self, inp: StoreRef) -> tuple[str, ...]:
        """The hosts that are up (a host that is down is checked once it is back)."""
        now = utcnow()
        with self.db.session() as s:
            return tuple(
                sorted(
                    h.name
                    for h in s.scalars(select(Host))
                    if is_up(h.heartbeat_at, h.forced_down, now)
                )
            )

    @activity.defn
    def compare(self, inp: CompareInput) -> DriftReport:
        """Record this pass's findings, repair what is safe, close what is gone."""
        with self.db.session() as s:
            findings = [
                *(f for h in inp.hosts for f in _host_findings(s, h)),
                *_store_findings(s, inp.store),
            ]
            return _record(s, findings, {h.host for h in inp.hosts})

    def all(self) -> list[Callable[..., Any]]:
        return [self.hosts_to_check, self.compare]


def _taken(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


def _gone_before(row: Any, taken: dt.datetime) -> bool:
    """The row does not exist, or was deleted before the inventory was taken (rows
    without ``deleted_at``, networks', are removed outright)."""
    deleted_at = getattr(row, "deleted_at", None)
    return row is None or (deleted_at is not None and deleted_at < taken)


def _host_findings(s: Any, inv: HostInventory) -> list[Finding]:
    taken = _taken(inv.taken_at)
    found = []
    evacuated = {
        m.server_id
        for m in s.scalars(
            select(Migration).where(
                Migration.source_compute == inv.host, Migration.status == EVACUATION_DONE
            )
        )
    }
    for server_id in inv.domains:
        row = s.get(Server, server_id)
        if server_id in evacuated:
            continue  # the host cleans it up itself
        if _gone_before(row, taken) or (
            row.deleted_at is None
            and row.host != inv.host
            and row.task_state is None
            and row.updated_at < taken
        ):
            where = "no server" if row is None or row.deleted_at else f"server on {row.host}"
            found.append(Finding(ORPHAN_DOMAIN, server_id, inv.host, f"a domain with {where}"))
    for network_id in inv.networks:
        if _gone_before(s.get(Network, network_id), taken):
            found.append(
                Finding(ORPHAN_NETWORK, network_id, inv.host, "network devices with no network")
            )
    known = {bridge_name(n) for n in s.scalars(select(Network.id))}
    for bridge in inv.bridges:
        if bridge not in known:
            found.append(Finding(ORPHAN_BRIDGE, bridge, inv.host, "a bridge with no network"))
    return found


def _store_findings(s: Any, inv: StoreInventory) -> list[Finding]:
    taken = _taken(inv.taken_at)
    found = []
    disks, volumes = set(inv.disks), set(inv.volumes)
    for server_id in sorted(disks):
        if _gone_before(s.get(Server, server_id), taken):
            found.append(Finding(ORPHAN_DISK, f"{VMS}/{server_id}{DISK_SUFFIX}", "", "no server"))
    for volume_id in sorted(volumes):
        if _gone_before(s.get(Volume, volume_id), taken):
            found.append(
                Finding(ORPHAN_VOLUME, f"{VOLUMES}/{VOLUME_PREFIX}{volume_id}", "", "no volume")
            )
    settled = s.scalars(
        select(Server).where(
            Server.deleted_at.is_(None),
            Server.status.in_(_SETTLED),
            Server.task_state.is_(None),
            Server.updated_at < taken,
        )
    )
    for server in settled:
        if server.root_volume or server.id in disks:
            continue
        disk = f"{VMS}/{server.id}{DISK_SUFFIX}"
        reason = f"its root disk {disk} is gone from Ceph"
        server.status, server.power_state = "ERROR", 0
        server.fault = {"code": 500, "message": reason, "created": _stamp()}
        found.append(Finding(MISSING_DISK, server.id, "", reason, repaired=True))
    kept = s.scalars(
        select(Volume).where(
            Volume.deleted_at.is_(None),
            Volume.status.in_(("available", "in-use")),
            Volume.updated_at < taken,
        )
    )
    for volume in kept:
        if volume.id in volumes:
            continue
        volume.status = "error"
        reason = f"its image {VOLUMES}/{VOLUME_PREFIX}{volume.id} is gone from Ceph"
        found.append(Finding(MISSING_VOLUME, volume.id, "", reason, repaired=True))
    return found


def _stamp() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(s: Any, findings: list[Finding], hosts: set[str]) -> DriftReport:
    """Open a row for each new finding, touch the ones still found, close the rest (of the
    hosts checked: a host not checked keeps its findings open)."""
    now = utcnow()
    open_rows = {
        (d.kind, d.subject, d.host): d
        for d in s.scalars(select(Drift).where(Drift.resolved_at.is_(None)))
    }
    new, repaired = [], []
    seen = set()
    for f in findings:
        key = (f.kind, f.subject, f.host)
        seen.add(key)
        row = open_rows.get(key)
        if f.repaired:
            s.add(Drift(kind=f.kind, subject=f.subject, host=f.host, detail=f.detail,
                        repaired=True, first_seen=now, last_seen=now, resolved_at=now))  # fmt: skip
            repaired.append(f"{f.kind} {f.subject}: {f.detail}")
            log.warning("drift repaired: %s %s: %s", f.kind, f.subject, f.detail)
        elif row is None:
            s.add(Drift(kind=f.kind, subject=f.subject, host=f.host, detail=f.detail,
                        first_seen=now, last_seen=now))  # fmt: skip
            new.append(f"{f.kind} {f.subject}{' on ' + f.host if f.host else ''}: {f.detail}")
            log.warning("drift found: %s %s %s: %s", f.kind, f.subject, f.host, f.detail)
        else:
            row.last_seen = now
    resolved = 0
    for key, row in open_rows.items():
        if key not in seen and (not row.host or row.host in hosts):
            row.resolved_at = now
            resolved += 1
    s.flush()
    counts: dict[str, int] = {}
    for row in s.scalars(select(Drift).where(Drift.resolved_at.is_(None))):
        counts[row.kind] = counts.get(row.kind, 0) + 1
    return DriftReport(counts, tuple(new), tuple(repaired), resolved)
