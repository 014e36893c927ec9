"""The cloud's own metrics, read from the database: resources by status and project,
operations in flight with the age of the longest-waiting one, host allocation against
capacity, and quota usage."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import CollectorRegistry

from nimbus.config import QUOTA_DEFAULTS
from nimbus.db import Database, Flavor, Host, Project, Server, Volume
from nimbus.db_drift import Drift
from observability.cloud import CloudCollector


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.create_schema()
    return database


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def registry_of(db: Database, stuck_after: float = 600) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CloudCollector(db, stuck_after, dict(QUOTA_DEFAULTS)))
    return registry


def server(name: str, status: str, age: float, task: str | None = None, **kw: object) -> Server:
    then = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=age)
    return Server(
        project_id="p1", user_id="u", name=name, status=status, task_state=task,
        flavor_id="2", image_id="i", host="h1", created_at=then, updated_at=then, **kw,
    )  # fmt: skip


def test_operations_in_flight_report_the_age_of_the_longest_waiting(db: Database) -> None:
    with db.session() as s:
        s.add(Flavor(id="2", name="m1.small", vcpus=1, ram=2048, disk=20))
        s.add_all(
            [
                server("old", "BUILD", 1000),
                server("new", "BUILD", 10),
                server("quiet", "ACTIVE", 5000),
                server("going", "ACTIVE", 30, task="deleting"),
            ]
        )
    with db.session() as s:  # updated_at is set on flush: put the ages back
        for row in s.query(Server):
            row.updated_at = row.created_at
    r = registry_of(db)
    assert value(r, "nimbus_operations_in_flight", kind="server", state="BUILD") == 2
    oldest = value(r, "nimbus_operation_oldest_age_seconds", kind="server", state="BUILD")
    assert oldest is not None and 995 < oldest < 1100
    assert value(r, "nimbus_operations_in_flight", kind="server", state="deleting") == 1
    assert value(r, "nimbus_operations_in_flight", kind="server", state="ACTIVE") is None
    assert value(r, "nimbus_operation_stuck_after_seconds") == 600
    assert value(r, "nimbus_resources", kind="server", status="ACTIVE", project_id="p1") == 2


def test_deleted_resources_count_nowhere(db: Database) -> None:
    with db.session() as s:
        s.add(Volume(project_id="p1", user_id="u", size=1, status="available"))
        gone = Volume(project_id="p1", user_id="u", size=1, status="deleted")
        gone.deleted_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        s.add(gone)
    r = registry_of(db)
    assert value(r, "nimbus_resources", kind="volume", status="available", project_id="p1") == 1
    assert value(r, "nimbus_resources", kind="volume", status="deleted", project_id="p1") is None


def test_host_allocation_and_quota_usage(db: Database) -> None:
    with db.session() as s:
        s.add(Flavor(id="2", name="m1.small", vcpus=1, ram=2048, disk=20))
        s.add(Host(name="h1", vcpus=2, memory_mib=4096, cpu_allocation_ratio=8.0))
        s.add(Project(id="p1", name="demo"))
        s.add_all([server("a", "ACTIVE", 1), server("b", "SHUTOFF", 1)])
    r = registry_of(db)
    assert value(r, "nimbus_host_vcpus", host="h1") == 2
    assert value(r, "nimbus_host_vcpus_allocated", host="h1") == 2
    assert value(r, "nimbus_host_memory_allocated_mib", host="h1") == 4096
    assert value(r, "nimbus_host_disk_allocated_gib", host="h1") == 40
    assert value(r, "nimbus_host_cpu_allocation_ratio", host="h1") == 8.0
    assert value(r, "nimbus_quota_usage", project_id="p1", resource="instances") == 2
    assert value(r, "nimbus_quota_usage", project_id="p1", resource="cores") == 2
    assert value(r, "nimbus_quota_limit", project_id="p1", resource="instances") == 10


def test_failures_are_counted_by_the_error_class_the_caller_sees() -> None:
    from temporalio.exceptions import ActivityError, ApplicationError, RetryState

    from observability.temporal import error_class

    assert error_class(ApplicationError("gone", type="NotFound")) == "NotFound"
    wrapped = ActivityError(
        "activity failed", scheduled_event_id=1, started_event_id=2, identity="w",
        activity_type="create", activity_id="1", retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )  # fmt: skip
    wrapped.__cause__ = ApplicationError("over quota", type="QuotaExceeded")
    assert error_class(wrapped) == "QuotaExceeded"
    assert error_class(TimeoutError()) == "TimeoutError"


def test_server_usage_is_labelled_with_its_server_and_project(db: Database) -> None:
    from activities.hypervisor.base import Disk, DomainSpec, DomainStats
    from activities.hypervisor.fake import FakeHypervisor
    from observability.servers import ServerStatsCollector

    hv = FakeHypervisor()
    for uid in ("s1", "stranger"):
        spec = DomainSpec(f"nimbus-{uid}", uid, 1, 128, Disk("vda", "file", "/x"), "/log")
        hv.define_and_start(spec)
    hv.stats["nimbus-s1"] = DomainStats(12.5, 128 << 20, 10, 20, 30, 40)
    with db.session() as s:
        s.add(server("s1", "ACTIVE", 1, id="s1"))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerStatsCollector(hv, db, "nimbus-", "h1"))
    labels = {"server_id": "s1", "project_id": "p1", "host": "h1"}
    assert registry.get_sample_value("nimbus_server_cpu_seconds_total", labels) == 12.5
    assert registry.get_sample_value("nimbus_server_memory_bytes", labels) == 128 << 20
    assert registry.get_sample_value("nimbus_server_network_transmit_bytes_total", labels) == 40
    stranger = {**labels, "server_id": "stranger"}
    assert registry.get_sample_value("nimbus_server_memory_bytes", stranger) is None


def test_open_drift_is_counted_by_kind_and_repairs_apart(db: Database) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with db.session() as s:
        s.add(Drift(kind="orphan_domain", subject="a", host="h"))
        s.add(Drift(kind="orphan_domain", subject="b", host="h"))
        s.add(Drift(kind="orphan_disk", subject="c", resolved_at=now))
        s.add(Drift(kind="missing_volume", subject="d", repaired=True, resolved_at=now))
    r = registry_of(db)
    assert value(r, "nimbus_drift_open", kind="orphan_domain") == 2
    assert value(r, "nimbus_drift_open", kind="orphan_disk") == 0
    assert value(r, "nimbus_drift_repaired", kind="missing_volume") == 1
