"""By default the consoles that have no login of their own listen on loopback only: the
Temporal server and its web UI (which shows every workflow's history), Prometheus and
Alertmanager."""

from __future__ import annotations

from pathlib import Path

from launcher.services import prometheus, temporal
from nimbus.config import Settings

LOOPBACK = "127.0.0.1"


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_the_temporal_server_and_its_web_ui_bind_loopback() -> None:
    settings = Settings(data_dir=Path("/x"))
    argv = temporal.argv(settings)
    assert _value(argv, "--ip") == LOOPBACK
    assert "--ui-ip" not in argv  # the UI binds where the frontend does
    assert settings.temporal_ui_url.startswith(f"http://{LOOPBACK}:")


def test_prometheus_and_alertmanager_listen_on_loopback() -> None:
    settings = Settings(data_dir=Path("/x"))
    paths = prometheus.monitoring_paths(settings)
    for argv in (
        prometheus.prometheus_argv(settings, paths),
        prometheus.alertmanager_argv(settings, paths),
    ):
        (listen,) = [a for a in argv if a.startswith("--web.listen-address=")]
        assert listen == f"--web.listen-address={LOOPBACK}:{listen.rsplit(':', 1)[1]}"
    assert "--cluster.listen-address=" in prometheus.alertmanager_argv(settings, paths)
