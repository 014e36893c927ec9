"""Prometheus and Alertmanager (Debian's packages), run by ``nimbus up`` from the data
directory like every other component.

Prometheus scrapes every Nimbus process (the API, the worker), the Temporal server, Ceph
(the mgr's ``prometheus`` module), the router (HAProxy's exporter), Alertmanager and
itself; it evaluates the shipped rules (``observability/rules``) and serves the console
dashboards (``observability/consoles``). Alertmanager sends alerts to the webhook
``NIMBUS_ALERT_WEBHOOK_URL`` names (none: they are only listed in its UI). Both listen on
127.0.0.1. A changed configuration is reloaded into the running process.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.services import process
from nimbus.config import CHECKOUT, Settings
from nimbus.errors import BackendUnavailable

PROMETHEUS, ALERTMANAGER = "prometheus", "alertmanager"
RULES = CHECKOUT / "observability" / "rules" / "nimbus.yml"
CONSOLES = CHECKOUT / "observability" / "consoles"
#: How often targets are scraped and rules evaluated.
INTERVAL = "10s"


@dataclass(frozen=True)
class MonitoringPaths:
    root: Path

    @property
    def prometheus_config(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def alertmanager_config(self) -> Path:
        return self.root / "alertmanager.yml"

    @property
    def prometheus_data(self) -> Path:
        return self.root / "prometheus-data"

    @property
    def alertmanager_data(self) -> Path:
        return self.root / "alertmanager-data"


def monitoring_paths(settings: Settings) -> MonitoringPaths:
    return MonitoringPaths(settings.data_dir / "monitoring")


def prometheus_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.prometheus_port}"


def alertmanager_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.alertmanager_port}"


def scrape_targets(settings: Settings) -> dict[str, list[str]]:
    """Each job's ``host:port`` targets (all serve ``/metrics``)."""
    targets = {
        "nimbus-api": [f"{settings.api_host}:{settings.api_port}"],
        "nimbus-worker": [f"127.0.0.1:{settings.worker_metrics_port}"],
        "temporal": [f"{settings.temporal_host}:{settings.temporal_metrics_port}"],
        "router": [f"{settings.router_host}:{settings.router_metrics_port}"],
        "alertmanager": [f"127.0.0.1:{settings.alertmanager_port}"],
        "prometheus": [f"127.0.0.1:{settings.prometheus_port}"],
    }
    if settings.own_ceph:
        targets["ceph"] = [f"127.0.0.1:{settings.ceph_metrics_port}"]
    if not settings.temporal_managed:
        # An external cluster's metrics are its operators' to scrape (and their address
        # is theirs to tell): the component-down alert must not fire for it here.
        del targets["temporal"]
    return targets


def prometheus_config(settings: Settings) -> dict[str, Any]:
    """``prometheus.yml`` (written as JSON, which is YAML too)."""
    return {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": [str(RULES)],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{settings.alertmanager_port}"]}]}
            ]
        },
        "scrape_configs": [
            _scrape_job(settings, job, targets) for job, targets in scrape_targets(settings).items()
        ],
    }


def _scrape_job(settings: Settings, job: str, targets: list[str]) -> dict[str, Any]:
    """One job; the API's over HTTPS when TLS is on, its certificate checked against the
    cloud's CA under the name every certificate it makes carries (whatever host the API
    listens on)."""
    config: dict[str, Any] = {"job_name": job, "static_configs": [{"targets": targets}]}
    if job == "nimbus-api" and settings.tls:
        tls = {"ca_file": str(settings.tls_ca_cert), "server_name": "localhost"}
        config |= {"scheme": "https", "tls_config": tls}
    return config


def alertmanager_config(settings: Settings) -> dict[str, Any]:
    """``alertmanager.yml``: every alert to the webhook, resolved ones too."""
    receiver: dict[str, Any] = {"name": "nimbus"}
    if settings.alert_webhook_url:
        receiver["webhook_configs"] = [{"url": settings.alert_webhook_url, "send_resolved": True}]
    return {
        "route": {
            "receiver": "nimbus",
            "group_by": ["alertname", "kind", "state", "job", "host", "app"],
            "group_wait": "5s",
            "group_interval": "30s",
            "repeat_interval": "4h",
        },
        "receivers": [receiver],
    }


def _write(path: Path, content: dict[str, Any]) -> bool:
    """Write ``content`` if it differs from the file; whether it changed."""
    text = json.dumps(content, indent=2) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
    return True


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackendUnavailable(f"{name} is missing (Debian's prometheus packages): make install")
    return found


def prometheus_argv(settings: Settings, paths: MonitoringPaths) -> list[str]:
    return [
        _binary("prometheus"),
        f"--config.file={paths.prometheus_config}",
        f"--storage.tsdb.path={paths.prometheus_data}",
        "--storage.tsdb.retention.time=15d",
        f"--web.listen-address=127.0.0.1:{settings.prometheus_port}",
        f"--web.console.templates={CONSOLES}",
        f"--web.console.libraries={CONSOLES / 'lib'}",
        "--web.enable-lifecycle",
    ]


def alertmanager_argv(settings: Settings, paths: MonitoringPaths) -> list[str]:
    return [
        _binary("prometheus-alertmanager"),
        f"--config.file={paths.alertmanager_config}",
        f"--storage.path={paths.alertmanager_data}",
        f"--web.listen-address=127.0.0.1:{settings.alertmanager_port}",
        "--cluster.listen-address=",  # one Alertmanager: no gossip port
    ]


def ensure_monitoring(settings: Settings, timeout: float = 60.0) -> None:
    """Write both configurations, start whichever does not run (reload a running one whose
    configuration changed) and wait until both listen."""
    paths = monitoring_paths(settings)
    changed = {
        ALERTMANAGER: _write(paths.alertmanager_config, alertmanager_config(settings)),
        PROMETHEUS: _write(paths.prometheus_config, prometheus_config(settings)),
    }
    argv = {
        ALERTMANAGER: alertmanager_argv(settings, paths),
        PROMETHEUS: prometheus_argv(settings, paths),
    }
    urls = {ALERTMANAGER: alertmanager_url(settings), PROMETHEUS: prometheus_url(settings)}
    ports = {ALERTMANAGER: settings.alertmanager_port, PROMETHEUS: settings.prometheus_port}
    for name in (ALERTMANAGER, PROMETHEUS):
        running = process.running_pid(settings.run_dir, name) is not None
        if running and changed[name]:
            _reload(urls[name])
        elif not running:
            if process.port_open("127.0.0.1", ports[name]):
                raise BackendUnavailable(f"127.0.0.1:{ports[name]} is taken by another program")
            process.start(name, argv[name], settings.run_dir, settings.log_dir)
        log = settings.log_dir / f"{name}.log"
        process.wait_for_port(name, "127.0.0.1", ports[name], timeout, log)


def _reload(url: str) -> None:
    """Ask a running Prometheus or Alertmanager to read its configuration again."""
    request = urllib.request.Request(f"{url}/-/reload", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError as exc:
        raise BackendUnavailable(f"{url} did not reload its configuration: {exc}") from exc


def stop_monitoring(run_dir: Path) -> list[str]:
    """Stop Prometheus, then Alertmanager; the names of those that ran."""
    return [name for name in (PROMETHEUS, ALERTMANAGER) if process.stop(name, run_dir)]
