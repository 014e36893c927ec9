"""Metrics that describe the cloud, not the processes: resources by status and project,
operations in flight and how long since each last moved, host capacity against what is
allocated, and quota usage. Read from the database at each scrape of the API's
``/metrics`` (one short transaction), so they are right even while every worker is down:
that is when a stuck operation must show.

An operation in flight is a row in a transitional state (a server in BUILD or with a task,
a volume ``attaching``, a service CREATING...). Its age is the time since its row last
changed (a network keeps no timestamps: its age is 0, only its count shows);
``nimbus_operation_stuck_after_seconds`` is the bound past which the shipped
alert ``NimbusOperationStuck`` fires (``observability/rules/nimbus.yml``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import select
from sqlalchemy.orm import Session

from nimbus import quota
from nimbus.db import Database, Flavor, Host, Image, Project, Server, Volume, VolumeSnapshot
from nimbus.db_drift import KINDS, Drift
from nimbus.db_network import Network
from nimbus.db_paas import App, Build, ServiceInstance

#: Statuses that mean an operation is under way, by kind of resource.
TRANSITIONAL: dict[str, frozenset[str]] = {
    "server": frozenset(
        {"BUILD", "REBUILD", "RESIZE", "REBOOT", "HARD_REBOOT", "MIGRATING", "PASSWORD"}
    ),
    "volume": frozenset(
        {
            "creating",
            "attaching",
            "detaching",
            "deleting",
            "extending",
            "downloading",
            "uploading",
            "reserved",
            "backing-up",
            "restoring-backup",
            "reverting",
        }
    ),
    "snapshot": frozenset({"creating", "deleting"}),
    "image": frozenset({"saving", "importing", "uploading"}),
    "network": frozenset({"BUILD"}),
    "service": frozenset({"CREATING", "DELETING"}),
    "build": frozenset({"STAGING"}),
}


@dataclass(frozen=True)
class Row:
    """One resource as the collector sees it."""

    kind: str
    project_id: str
    status: str
    updated_at: dt.datetime | None
    #: A server's task (``deleting``, ``rebooting``...): an operation even when its
    #: status is stable (ACTIVE).
    task: str | None = None

    @property
    def operation(self) -> str | None:
        """The state the operation is in, or ``None`` if none is under way."""
        if self.task:
            return self.task
        return self.status if self.status in TRANSITIONAL.get(self.kind, ()) else None


def _rows(s: Session) -> list[Row]:
    rows: list[Row] = []
    for server in s.scalars(select(Server).where(Server.deleted_at.is_(None))):
        rows.append(
            Row("server", server.project_id, server.status, server.updated_at, server.task_state)
        )
    for volume in s.scalars(select(Volume).where(Volume.deleted_at.is_(None))):
        rows.append(Row("volume", volume.project_id, volume.status, volume.updated_at))
    for snap in s.scalars(select(VolumeSnapshot).where(VolumeSnapshot.deleted_at.is_(None))):
        rows.append(Row("snapshot", snap.project_id, snap.status, snap.updated_at))
    for image in s.scalars(select(Image).where(Image.status != "deleted")):
        rows.append(Row("image", image.owner or "", image.status, image.updated_at))
    for net in s.scalars(select(Network)):
        rows.append(Row("network", net.project_id, net.status, None))  # no timestamps kept
    for app in s.scalars(select(App)):
        rows.append(Row("app", app.project_id, app.state, app.updated_at))
    for service in s.scalars(select(ServiceInstance)):
        rows.append(Row("service", service.project_id, service.status, service.updated_at))
    for build in s.scalars(select(Build).where(Build.state == "STAGING")):
        rows.append(Row("build", build.project_id, build.state, build.created_at))
    return rows


def _age(now: dt.datetime, then: dt.datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max(0.0, (now - then).total_seconds())


class CloudCollector:
    """A ``prometheus_client`` collector over the cloud's tables."""

    def __init__(
        self,
        db: Database,
        stuck_after: float,
        quota_defaults: dict[str, int],
    ) -> None:
        self.db = db
        self.stuck_after = stuck_after
        self.quota_defaults = quota_defaults

    def collect(self) -> Iterator[Metric]:
        now = dt.datetime.now(dt.UTC)
        with self.db.session() as s:
            rows = _rows(s)
            yield from self._hosts(s, now)
            yield from self._quotas(s)
            yield from self._drift(s)
        yield from self._resources(rows, now)

    def _resources(self, rows: list[Row], now: dt.datetime) -> Iterator[Metric]:
        counts = GaugeMetricFamily(
            "nimbus_resources",
            "Resources by kind, status and project.",
            labels=["kind", "status", "project_id"],
        )
        for (kind, status, project), n in sorted(
            Counter((r.kind, r.status, r.project_id) for r in rows).items()
        ):
            counts.add_metric([kind, status, project], n)
        in_flight = GaugeMetricFamily(
            "nimbus_operations_in_flight",
            "Resources in a transitional state (an operation under way), by kind and state.",
            labels=["kind", "state"],
        )
        oldest = GaugeMetricFamily(
            "nimbus_operation_oldest_age_seconds",
            "Seconds since the longest-waiting resource in this transitional state changed.",
            labels=["kind", "state"],
        )
        ages: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in rows:
            if (op := r.operation) is not None:
                ages[(r.kind, op)].append(_age(now, r.updated_at))
        for (kind, state), found in sorted(ages.items()):
            in_flight.add_metric([kind, state], len(found))
            oldest.add_metric([kind, state], max(found))
        bound = GaugeMetricFamily(
            "nimbus_operation_stuck_after_seconds",
            "How long a resource may stay in a transitional state before it counts as stuck.",
        )
        bound.add_metric([], self.stuck_after)
        yield from (counts, in_flight, oldest, bound)

    def _hosts(self, s: Session, now: dt.datetime) -> Iterator[Metric]:
        flavors = {f.id: f for f in s.scalars(select(Flavor))}
        allocated: dict[str, Counter[str]] = defaultdict(Counter)
        for server in s.scalars(select(Server).where(Server.deleted_at.is_(None))):
            flavor = flavors.get(server.flavor_id)
            if server.host and flavor is not None:
                allocated[server.host].update(
                    {"vcpus": flavor.vcpus, "ram": flavor.ram, "disk": flavor.disk, "servers": 1}
                )
        families = {
            "vcpus": GaugeMetricFamily("nimbus_host_vcpus", "A host's vCPUs.", labels=["host"]),
            "memory": GaugeMetricFamily(
                "nimbus_host_memory_mib", "A host's memory in MiB.", labels=["host"]
            ),
            "vcpus_allocated": GaugeMetricFamily(
                "nimbus_host_vcpus_allocated",
                "vCPUs of the flavors of the servers on a host.",
                labels=["host"],
            ),
            "memory_allocated": GaugeMetricFamily(
                "nimbus_host_memory_allocated_mib",
                "Memory (MiB) of the flavors of the servers on a host.",
                labels=["host"],
            ),
            "disk_allocated": GaugeMetricFamily(
                "nimbus_host_disk_allocated_gib",
                "Root disk (GiB) of the flavors of the servers on a host (the disks are in Ceph).",
                labels=["host"],
            ),
            "servers": GaugeMetricFamily(
                "nimbus_host_servers", "Servers placed on a host.", labels=["host"]
            ),
            "cpu_ratio": GaugeMetricFamily(
                "nimbus_host_cpu_allocation_ratio",
                "vCPUs a host may allocate per physical one.",
                labels=["host"],
            ),
            "ram_ratio": GaugeMetricFamily(
                "nimbus_host_ram_allocation_ratio",
                "Memory a host may allocate per MiB it has.",
                labels=["host"],
            ),
            "heartbeat": GaugeMetricFamily(
                "nimbus_host_heartbeat_age_seconds",
                "Seconds since the host's compute agent last reported.",
                labels=["host"],
            ),
        }
        for host in s.scalars(select(Host).order_by(Host.name)):
            used = allocated.get(host.name, Counter())
            values: dict[str, Any] = {
                "vcpus": host.vcpus,
                "memory": host.memory_mib,
                "vcpus_allocated": used["vcpus"],
                "memory_allocated": used["ram"],
                "disk_allocated": used["disk"],
                "servers": used["servers"],
                # What the host's worker reports, and the scheduler places by.
                "cpu_ratio": host.cpu_allocation_ratio,
                "ram_ratio": host.ram_allocation_ratio,
                "heartbeat": _age(now, host.heartbeat_at),
            }
            for key, family in families.items():
                family.add_metric([host.name], float(values[key]))
        yield from families.values()

    def _drift(self, s: Session) -> Iterator[Metric]:
        """What the reconciler found and has not seen go away, by kind (0 for each kind
        without, so an alert can compare)."""
        drift = GaugeMetricFamily(
            "nimbus_drift_open",
            "Open findings of the reconciler: rows and real objects that disagree.",
            labels=["kind"],
        )
        counts = Counter(
            s.scalars(select(Drift.kind).where(Drift.resolved_at.is_(None), ~Drift.repaired))
        )
        for kind in KINDS:
            drift.add_metric([kind], counts.get(kind, 0))
        repaired = GaugeMetricFamily(
            "nimbus_drift_repaired",
            "Rows the reconciler repaired because their object vanished, by kind.",
            labels=["kind"],
        )
        fixed = Counter(s.scalars(select(Drift.kind).where(Drift.repaired)))
        for kind in KINDS:
            repaired.add_metric([kind], fixed.get(kind, 0))
        yield from (drift, repaired)

    def _quotas(self, s: Session) -> Iterator[Metric]:
        limit = GaugeMetricFamily(
            "nimbus_quota_limit",
            "A project's limit of a resource (-1: unlimited).",
            labels=["project_id", "resource"],
        )
        usage = GaugeMetricFamily(
            "nimbus_quota_usage",
            "What a project uses of a resource.",
            labels=["project_id", "resource"],
        )
        names = sorted(self.quota_defaults)
        for project in s.scalars(select(Project.id).order_by(Project.id)):
            limits = quota.limits(s, project, self.quota_defaults, names)
            used = quota.usage(s, project, names)
            for name in names:
                limit.add_metric([project, name], limits[name])
                usage.add_metric([project, name], used[name])
        yield from (limit, usage)
