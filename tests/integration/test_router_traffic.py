"""Real HTTP traffic through the router: HAProxy on a free loopback port reaches named
servers inside a namespace the test creates (``namespace`` on its server lines), so no
packet leaves loopback or that namespace."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from nimbus.errors import NotFound
from paas.router.base import AppRoute, HealthCheck, Member
from paas.router.haproxy import HaproxyRouter
from paas.services import OBJECT_STORE_ADDRESS, OBJECT_STORE_PORT
from tests.support.netlab import in_namespace, ip, ip_quiet, unique_name
from tests.support.routerlab import (
    NAMED_HTTP,
    Backends,
    backends,
    free_port,
    get,
    running_router,
    wait_for,
)

pytestmark = pytest.mark.network

HOST = "a.apps.localhost"
APP = "0b6c3a5e-6f7a-4c1e-9d43-1f6a2b7c8d90"


@pytest.fixture
def servers() -> Iterator[Backends]:
    with backends(3) as made:
        yield made


@pytest.fixture
def router(tmp_path: Path, servers: Backends) -> Iterator[tuple[HaproxyRouter, int]]:
    with running_router(tmp_path) as (made, handle):
        check = HealthCheck("http", "/health")
        made.ensure_app(AppRoute(APP, (HOST,), servers.port, servers.namespace, check))
        yield made, handle.port


def members(servers: Backends, routed: dict[int, bool]) -> tuple[Member, ...]:
    return tuple(Member(i, servers.addresses[i % 3], on) for i, on in routed.items())


def settle(router: HaproxyRouter, expected: dict[int, str]) -> None:
    assert wait_for(lambda: router.member_health(APP) == expected, 6), router.member_health(APP)


def names(port: int, count: int) -> Counter[str]:
    answers = [get(port, HOST) for _ in range(count)]
    assert {status for status, _ in answers} == {200}
    return Counter(body for _, body in answers)


def test_requests_spread_over_all_routed_members(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True, 1: True, 2: True}))
    settle(made, {0: "UP", 1: "UP", 2: "UP"})
    assert set(names(port, 30)) == {"s0", "s1", "s2"}


def test_a_drained_member_is_checked_but_gets_no_request(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True, 1: True, 2: False}))
    settle(made, {0: "UP", 1: "UP", 2: "UP"})
    assert set(names(port, 30)) == {"s0", "s1"}


def test_a_killed_instance_goes_down_and_no_request_fails(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True, 1: True, 2: True}))
    settle(made, {0: "UP", 1: "UP", 2: "UP"})
    servers.kill(1)
    settle(made, {0: "UP", 1: "DOWN", 2: "UP"})
    assert set(names(port, 40)) == {"s0", "s2"}


def test_membership_changes_under_load_drop_no_request(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True}))
    settle(made, {0: "UP"})
    results: list[tuple[int, str]] = []
    stop = threading.Event()
    loop = threading.Thread(target=lambda: _requests_until(stop, port, results))
    loop.start()
    try:
        for step in (
            {0: True, 1: False},
            {0: True, 1: True},
            {1: True, 2: False},
            {1: True, 2: True, 5: False},
            {2: True, 5: True},
            {0: False, 5: True},
        ):
            made.set_members(APP, members(servers, step))
            settle(made, {index: "UP" for index in step})
    finally:
        stop.set()
        loop.join(timeout=30)
    assert len(results) > 20
    assert [r for r in results if r[0] != 200] == []


def test_a_reload_for_more_slots_keeps_members_drain_and_health(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True, 1: False}))
    settle(made, {0: "UP", 1: "UP"})
    worker = made.runtime.worker_pid()
    made.set_members(APP, members(servers, {0: True, 1: False, 20: False}))
    assert made.runtime.worker_pid() != worker
    assert made.member_health(APP) == {0: "UP", 1: "UP", 20: "DOWN"}
    assert set(names(port, 10)) == {"s0"}


def _requests_until(stop: threading.Event, port: int, results: list[tuple[int, str]]) -> None:
    while not stop.is_set() and len(results) < 5000:
        try:
            results.append(get(port, HOST))
        except OSError as exc:
            results.append((0, repr(exc)))


def test_an_unknown_host_gets_the_error_page(router: tuple[HaproxyRouter, int]) -> None:
    _, port = router
    assert get(port, "nobody.apps.localhost") == (404, "No app at this host name.")


def test_a_removed_app_no_longer_answers_its_host(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True}))
    settle(made, {0: "UP"})
    assert get(port, HOST) == (200, "s0")
    made.remove_app(APP)
    assert get(port, HOST)[0] == 404


def test_a_restarted_router_is_healed_by_the_next_set_members(
    tmp_path: Path, servers: Backends
) -> None:
    with running_router(tmp_path) as (made, _):
        made.ensure_app(AppRoute(APP, (HOST,), servers.port, servers.namespace))
        made.set_members(APP, members(servers, {0: True, 1: False}))
    with running_router(tmp_path) as (made, handle):
        made.set_members(APP, members(servers, {0: True, 1: False}))
        settle(made, {0: "UP", 1: "UP"})
        assert set(names(handle.port, 10)) == {"s0"}


def test_a_slot_moved_to_a_new_address_is_down_until_that_address_passes(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True, 1: True}))
    settle(made, {0: "UP", 1: "UP"})
    made.set_members(APP, (Member(0, "127.0.1.99", False), Member(1, servers.addresses[1], True)))
    assert made.member_health(APP) == {0: "DOWN", 1: "UP"}
    assert set(names(port, 10)) == {"s1"}


def test_a_namespace_the_host_lacks_is_not_found(router: tuple[HaproxyRouter, int]) -> None:
    made, _ = router
    with pytest.raises(NotFound, match="rtr-missing"):
        made.ensure_app(AppRoute(str(uuid.uuid4()), ("b.apps.localhost",), 80, "rtr-missing"))


def test_an_app_whose_namespace_vanished_does_not_stop_the_others(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True}))
    settle(made, {0: "UP"})
    doomed = unique_name("rtr-")
    ip("netns", "add", doomed)
    try:
        made.ensure_app(AppRoute(str(uuid.uuid4()), ("b.apps.localhost",), 80, doomed))
    finally:
        ip_quiet("netns", "del", doomed)
    made.ensure_app(AppRoute(str(uuid.uuid4()), ("c.apps.localhost",), 80))
    assert get(port, HOST) == (200, "s0")
    assert get(port, "b.apps.localhost")[0] == 404


def test_the_router_counts_each_members_responses(
    router: tuple[HaproxyRouter, int], servers: Backends
) -> None:
    made, port = router
    made.set_members(APP, members(servers, {0: True, 1: True}))
    settle(made, {0: "UP", 1: "UP"})
    before = made.stats(APP)
    answered = names(port, 20)
    after = made.stats(APP)
    assert set(after) == {0, 1}
    counted = {i: after[i].requests - before[i].requests for i in after}
    assert counted == {0: answered["s0"], 1: answered["s1"]}  # health checks are not counted
    assert all(after[i].responses["2xx"] == after[i].requests for i in after)


def test_an_app_network_reaches_the_object_store_through_the_router(
    tmp_path: Path, servers: Backends
) -> None:
    """The gateway stands in as a named server on the host's loopback; from inside the
    app's namespace, 169.254.169.254:8080 reaches it. The router is configured before that
    address exists in the namespace, as it is while a network is still being made."""
    gateway_port = free_port()
    argv = [sys.executable, str(NAMED_HTTP), "127.0.0.1", str(gateway_port), "gateway"]
    gateway = subprocess.Popen(argv)
    try:
        with running_router(tmp_path, object_store=f"127.0.0.1:{gateway_port}") as (made, _):
            check = HealthCheck("port", "/")
            made.ensure_app(AppRoute(APP, (HOST,), servers.port, servers.namespace, check))
            ip("-n", servers.namespace, "addr", "add", f"{OBJECT_STORE_ADDRESS}/32", "dev", "lo")
            url = f"http://{OBJECT_STORE_ADDRESS}:{OBJECT_STORE_PORT}/"
            fetch = in_namespace(servers.namespace, "busybox", "wget", "-q", "-O", "-", url)

            def answered() -> bool:
                done = subprocess.run(fetch, capture_output=True, text=True, timeout=10)
                return done.stdout.strip() == "gateway"

            assert wait_for(answered, 10)
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)
