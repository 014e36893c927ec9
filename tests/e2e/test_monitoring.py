"""Monitoring for real: the Prometheus that ``nimbus up`` runs scrapes every component and
loads every shipped rule; a boot made stuck on purpose (no worker) fires
``NimbusOperationStuck``, which Alertmanager posts to a webhook, and resolves once a
worker is back and the boot ends."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from launcher.services.prometheus import RULES, prometheus_url
from tests.e2e.test_crash_recovery import Api, _restart_worker
from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e

JOBS = {"nimbus-api", "nimbus-worker", "temporal", "router", "ceph", "alertmanager", "prometheus"}


def prometheus(cloud: Cloud, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    url = f"{prometheus_url(cloud.settings)}/api/v1/{path}{query}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", body
    return body["data"]


def targets(cloud: Cloud) -> dict[str, str]:
    """Each job's health (the worst of its targets)."""
    health: dict[str, str] = {}
    for target in prometheus(cloud, "targets")["activeTargets"]:
        job = target["labels"]["job"]
        if health.get(job) != "down":
            health[job] = target["health"]
    return health


def test_prometheus_scrapes_every_component_and_loads_every_rule(cloud: Cloud) -> None:
    wait_for(
        lambda: targets(cloud) == {job: "up" for job in JOBS},
        120,
        lambda: f"every target up; last: {targets(cloud)}",
    )
    loaded = {r["name"] for g in prometheus(cloud, "rules")["groups"] for r in g["rules"]}
    shipped = yaml.safe_load(RULES.read_text())["groups"]
    assert loaded == {r["alert"] for g in shipped for r in g["rules"]}
    for metric in (
        "nimbus_host_vcpus",
        "nimbus_quota_limit",
        "nimbus_resources",
        "ceph_health_status",
        "haproxy_process_nbthread",
        "nimbus_api_requests_total",
        "nimbus_activities_started_total",
    ):
        wait_for(lambda m=metric: prometheus(cloud, "query", query=m)["result"], 60, metric)


class Hook:
    """What Alertmanager posted to the test's webhook."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    def saw(
        self, status: str, alertname: str, labels: dict[str, str], after: int = -1
    ) -> int | None:
        """The index of the first post after ``after`` with such an alert, if any."""
        for index, post in enumerate(list(self.posts)):
            if index > after and any(
                alert["status"] == status
                and alert["labels"].get("alertname") == alertname
                and all(alert["labels"].get(k) == v for k, v in labels.items())
                for alert in post["alerts"]
            ):
                return index
        return None


@contextmanager
def webhook(url: str) -> Iterator[Hook]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.posts.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    where = urllib.parse.urlsplit(url)
    server = ThreadingHTTPServer((where.hostname or "127.0.0.1", where.port or 80), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        thread.join(10)


def test_a_boot_stuck_without_a_worker_fires_an_alert_that_resolves(cloud: Cloud) -> None:
    api = Api(cloud)
    stuck = {"kind": "server"}  # its state is its task, Nova's "scheduling"
    with webhook(cloud.settings.alert_webhook_url) as hook:
        cloud.kill_worker()
        try:
            server_id = api.create("stuck-boot")
            wait_for(
                lambda: hook.saw("firing", "NimbusOperationStuck", stuck) is not None,
                300,
                lambda: f"the stuck alert; posts so far: {hook.posts}",
            )
            fired = hook.saw("firing", "NimbusOperationStuck", stuck)
            assert fired is not None
            assert api.status(server_id) == "BUILD"
        finally:
            _restart_worker(cloud)
        wait_for(lambda: api.status(server_id) == "ACTIVE", 300, "the boot to end")
        # Resolved after it fired: not an earlier operation's alert, resolved meanwhile.
        wait_for(
            lambda: hook.saw("resolved", "NimbusOperationStuck", stuck, fired) is not None,
            300,
            lambda: f"the alert resolved; posts so far: {hook.posts}",
        )
    assert api.call("DELETE", f"/servers/{server_id}").status_code == 204
    wait_for(lambda: api.status(server_id) == "GONE", 300, "delete")


def test_every_dashboard_renders_with_the_clouds_data_and_a_browser_pictures_it(
    cloud: Cloud, tmp_path: Path
) -> None:
    from observability.screenshots import capture, pages

    url = prometheus_url(cloud.settings)
    wait_for(lambda: prometheus(cloud, "query", query="nimbus_host_vcpus")["result"], 60, "data")
    dashboards = pages(url)
    assert {"cloud", "projects", "apps", "host", "project"} <= set(dashboards)
    for path in dashboards.values():
        with urllib.request.urlopen(f"{url}/consoles/{path}", timeout=20) as answer:
            text = answer.read().decode()
        assert "error executing template" not in text.lower(), path
        assert "Nimbus" in text
    made = capture(url, tmp_path)
    assert len(made) == len(dashboards)
    for picture in made:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert picture.stat().st_size > 20_000, picture  # more than a blank page
