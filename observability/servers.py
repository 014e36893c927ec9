"""Per-server usage from the hypervisor (CPU, memory, disk and network I/O), labelled with
the server's id and project, collected at each scrape of the worker's ``/metrics``: one
``getAllDomainStats`` call and one query for the servers' projects."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import select

from activities.hypervisor.base import HypervisorDriver
from nimbus.db import Database, Server

log = logging.getLogger(__name__)


class ServerStatsCollector:
    """A ``prometheus_client`` collector over this host's running guests."""

    def __init__(self, hypervisor: HypervisorDriver, db: Database, prefix: str, host: str) -> None:
        self.hypervisor = hypervisor
        self.db = db
        self.prefix = prefix
        self.host = host

    def collect(self) -> Iterator[Metric]:
        labels = ["server_id", "project_id", "host"]
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "cpu": CounterMetricFamily(
                "nimbus_server_cpu_seconds", "CPU time of the server's vCPUs.", labels=labels
            ),
            "memory": GaugeMetricFamily(
                "nimbus_server_memory_bytes", "Memory the server has now.", labels=labels
            ),
            "disk_read": CounterMetricFamily(
                "nimbus_server_disk_read_bytes",
                "Bytes read from the server's disks.",
                labels=labels,
            ),
            "disk_write": CounterMetricFamily(
                "nimbus_server_disk_write_bytes",
                "Bytes written to the server's disks.",
                labels=labels,
            ),
            "rx": CounterMetricFamily(
                "nimbus_server_network_receive_bytes",
                "Bytes the server's NICs received.",
                labels=labels,
            ),
            "tx": CounterMetricFamily(
                "nimbus_server_network_transmit_bytes",
                "Bytes the server's NICs sent.",
                labels=labels,
            ),
        }
        try:
            stats = self.hypervisor.domain_stats(self.prefix)
        except Exception:  # noqa: BLE001 - a scrape must not fail with the hypervisor
            log.warning("could not read the guests' statistics", exc_info=True)
            stats = {}
        ids = {name.removeprefix(self.prefix): name for name in stats}
        with self.db.session() as s:
            query = select(Server.id, Server.project_id).where(Server.id.in_(list(ids)))
            projects = {server_id: project for server_id, project in s.execute(query)}
        for server_id, name in sorted(ids.items()):
            if server_id not in projects:
                continue  # not a server of this cloud (another prefix's, or being made)
            row, got = [server_id, projects[server_id], self.host], stats[name]
            families["cpu"].add_metric(row, got.cpu_seconds)
            families["memory"].add_metric(row, got.memory_bytes)
            families["disk_read"].add_metric(row, got.disk_read_bytes)
            families["disk_write"].add_metric(row, got.disk_write_bytes)
            families["rx"].add_metric(row, got.net_rx_bytes)
            families["tx"].add_metric(row, got.net_tx_bytes)
        yield from families.values()
