"""App metrics for Prometheus, read from the rows the app supervisors keep: responses by
status class (app and instance), request rate, instances by state, response time and
restarts. Collected at each scrape of the API's ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import select

from nimbus.db import Database
from nimbus.db_paas import App, Instance


class PaasCollector:
    """A ``prometheus_client`` collector over the PaaS tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        app_labels = ["project_id", "app"]
        # "index", not "instance": Prometheus keeps that label for the scraped target.
        inst_labels = [*app_labels, "index", "instance_id"]
        responses = CounterMetricFamily(
            "nimbus_app_responses",
            "Responses the router gave for the app, all its instances ever, by status class.",
            labels=[*app_labels, "status_class"],
        )
        rate = GaugeMetricFamily(
            "nimbus_app_request_rate",
            "The app's requests per second at its supervisor's last look.",
            labels=app_labels,
        )
        states = GaugeMetricFamily(
            "nimbus_app_instances", "The app's instances by state.", labels=[*app_labels, "state"]
        )
        inst_responses = CounterMetricFamily(
            "nimbus_app_instance_responses",
            "Responses the router gave for one instance, by status class.",
            labels=[*inst_labels, "status_class"],
        )
        latency = GaugeMetricFamily(
            "nimbus_app_instance_response_seconds",
            "An instance's average response time over its last 1024 responses.",
            labels=inst_labels,
        )
        restarts = CounterMetricFamily(
            "nimbus_app_instance_restarts",
            "Times an instance's slot was restarted after a crash.",
            labels=inst_labels,
        )
        with self.db.session() as s:
            apps = {a.id: a for a in s.scalars(select(App))}
            instances = list(s.scalars(select(Instance)))
        for app in apps.values():
            labels = [app.project_id, app.name]
            for cls, n in sorted((app.responses or {}).items()):
                responses.add_metric([*labels, cls], n)
            rate.add_metric(labels, app.request_rate or 0.0)
            mine = [i for i in instances if i.app_id == app.id]
            for state in ("STARTING", "RUNNING", "STOPPING"):
                states.add_metric([*labels, state], sum(i.state == state for i in mine))
        for inst in instances:
            owner = apps.get(inst.app_id)
            if owner is None:
                continue
            labels = [owner.project_id, owner.name, str(inst.index), inst.id]
            for cls, n in sorted((inst.responses or {}).items()):
                inst_responses.add_metric([*labels, cls], n)
            latency.add_metric(labels, (inst.response_ms or 0) / 1000)
            restarts.add_metric(labels, inst.crashes)
        yield from (responses, rate, states, inst_responses, latency, restarts)
