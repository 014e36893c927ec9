"""The router as a service: ``ensure_router`` starts one HAProxy however often it runs, and
``stop_router`` stops it by the PID it recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.services import cloud
from launcher.services.process import port_open
from launcher.services.router import ensure_router, router_pid, stop_router
from nimbus.config import Settings
from tests.support.routerlab import free_port, get

pytestmark = pytest.mark.network


def test_ensure_router_twice_starts_one_haproxy(tmp_path: Path) -> None:
    args = (tmp_path / "router", tmp_path / "log", tmp_path / "run", "127.0.0.1", free_port())
    try:
        first = ensure_router(*args)
        pid = router_pid(tmp_path / "run")
        second = ensure_router(*args)
        assert (first.started, second.started) == (True, False)
        assert pid is not None and router_pid(tmp_path / "run") == pid
        assert get(first.port, "nobody.apps.localhost")[0] == 404
    finally:
        stop_router(tmp_path / "run")


def test_the_router_serves_haproxys_prometheus_exporter(tmp_path: Path) -> None:
    import urllib.request

    metrics = free_port()
    args = (tmp_path / "router", tmp_path / "log", tmp_path / "run", "127.0.0.1", free_port())
    try:
        ensure_router(*args, metrics_port=metrics)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        assert 'haproxy_frontend_http_requests_total{proxy="apps"}' in text
    finally:
        stop_router(tmp_path / "run")


def test_stop_router_stops_it_and_a_second_stop_finds_nothing(tmp_path: Path) -> None:
    port = free_port()
    ensure_router(tmp_path / "router", tmp_path / "log", tmp_path / "run", "127.0.0.1", port)
    assert stop_router(tmp_path / "run") is True
    assert router_pid(tmp_path / "run") is None
    assert not port_open("127.0.0.1", port)
    assert stop_router(tmp_path / "run") is False


def test_nimbus_status_and_down_know_the_router(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, router_port=free_port(), ceph_conf="/nonexistent")
    cloud._start_router(settings)
    try:
        row = next(row for row in cloud.status(settings) if row.name == "router")
        assert row.pid == router_pid(settings.run_dir) is not None
        assert row.endpoint == f"http://127.0.0.1:{settings.router_port} (*.apps.localhost)"
    finally:
        cloud.down(settings)
    assert router_pid(settings.run_dir) is None
