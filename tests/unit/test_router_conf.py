"""HAProxy's configuration and host map as the router renders them from its state."""

from __future__ import annotations

from pathlib import Path

from paas.router.base import AppRoute, HealthCheck, Member
from paas.router.haproxy_conf import Listen, RouterPaths, render_config, render_map
from paas.router.state import AppState, slots_for

PATHS = RouterPaths(Path("/srv/router"))
ROUTE = AppRoute("app-1", ("b.apps.localhost", "a.apps.localhost"), 8080, "qdhcp-net-1")


def backend_of(app: AppState) -> list[str]:
    text = render_config(PATHS, Listen("127.0.0.1", 8780), {"app-1": app})
    return text.split("backend app-app-1\n", 1)[1].splitlines()


def test_slots_hold_members_and_spares_each_from_the_namespace() -> None:
    lines = backend_of(AppState(ROUTE, (Member(0, "10.0.0.5", True), Member(2, "10.0.0.7", False))))
    servers = [line.strip() for line in lines if line.strip().startswith("server ")]
    assert servers[0] == "server i0 10.0.0.5:8080 namespace qdhcp-net-1"
    assert servers[2] == "server i2 10.0.0.7:8080 namespace qdhcp-net-1 disabled"
    assert servers[1] == "server i1 127.0.0.1:8080 namespace qdhcp-net-1 disabled"
    assert len(servers) == 8


def test_http_checks_ask_the_endpoint_and_process_checks_run_none() -> None:
    http = AppRoute("app-1", ("a.apps.localhost",), health=HealthCheck("http", "/healthz"))
    assert "    option httpchk GET /healthz" in backend_of(AppState(http))
    process = AppRoute("app-1", ("a.apps.localhost",), health=HealthCheck("process"))
    assert not any("check" in line for line in backend_of(AppState(process)))


def test_the_host_map_names_each_host_once_sorted() -> None:
    text = render_map({"app-1": AppState(ROUTE)})
    assert text == "a.apps.localhost app-app-1\nb.apps.localhost app-app-1\n"


def test_slots_double_only_past_the_highest_index() -> None:
    assert slots_for((Member(7, "10.0.0.5", True),), 8) == 8
    assert slots_for((Member(8, "10.0.0.5", True),), 8) == 16
    assert slots_for((), 16) == 16


def test_each_app_network_gets_one_object_store_listener_when_there_is_a_gateway(
    tmp_path: Path,
) -> None:
    def app(app_id: str, namespace: str) -> AppState:
        route = AppRoute(app_id, (f"{app_id}.apps",), 8080, namespace, HealthCheck("port", "/"))
        return AppState(route, (), 2)

    apps = {"a": app("a", "qdhcp-one"), "b": app("b", "qdhcp-one"), "c": app("c", "qdhcp-two")}
    paths = RouterPaths(tmp_path)
    with_gateway = render_config(paths, Listen("127.0.0.1", 80, "127.0.0.1:7480"), apps)
    assert with_gateway.count("listen object-store-") == 2
    assert "bind 169.254.169.254:8080 namespace qdhcp-one transparent" in with_gateway
    assert "server gateway 127.0.0.1:7480" in with_gateway
    without = render_config(paths, Listen("127.0.0.1", 80), apps)
    assert "object-store" not in without
