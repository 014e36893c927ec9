"""Deployments over fake drivers: rolling and canary deployments keep as many routed
instances as asked for throughout, a canary pauses and is continued or cancelled, a
failed deployment returns to the old release, and a rollback deploys an old revision
without staging."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from nimbus.db import Server
from nimbus.db_paas import Build
from tests.support.paas import PaasUser, alice, stack
from tests.support.stack import Stack

__all__ = ["alice", "stack"]  # fixtures, used by name

V1 = {"index.html": "<h1>version 1</h1>\n"}
V2 = {"index.html": "<h1>version 2</h1>\n"}


def settled(app: dict[str, Any]) -> bool:
    return app["deployment"]["state"] in ("DEPLOYED", "FAILED", "CANCELED", "PAUSED")


def running_on(release_id: str, count: int) -> Any:
    def check(app: dict[str, Any]) -> bool:
        states = app["instance_states"]
        return (
            settled(app)
            and len(states) == count
            and all(i["state"] == "RUNNING" and i["release_id"] == release_id for i in states)
        )

    return check


class RoutedWatch:
    """Samples the fake router's routed members of one app in a thread, to find the
    fewest that ever served at once."""

    def __init__(self, stack: Stack, app_id: str) -> None:
        self.router, self.app_id = stack.drivers.router, app_id
        self.fewest = 10**6
        self.addresses: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.router._lock:
                routed = [m for m in self.router.members[self.app_id].values() if m.routed]
            self.fewest = min(self.fewest, len(routed))
            self.addresses |= {m.address for m in routed}
            time.sleep(0.01)

    def __enter__(self) -> RoutedWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def push_two(stack: Stack, alice: PaasUser, tmp_path: Path) -> dict[str, Any]:
    app = alice.push(tmp_path, "web", V1, instances=2)
    return alice.wait_app(app["id"], running_on(app["release_id"], 2))


def release(alice: PaasUser, tmp_path: Path, app_id: str, files: dict[str, str], **how: Any) -> Any:
    build = alice.stage(tmp_path, app_id, files)
    assert build["state"] == "STAGED", build
    return alice.call("POST", f"/apps/{app_id}/releases", json={"build_id": build["id"], **how})


def live_servers(stack: Stack) -> set[str]:
    with stack.db.session() as s:
        return set(s.scalars(select(Server.id).where(Server.deleted_at.is_(None))))


def wait(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def deployments(alice: PaasUser, app_id: str) -> list[dict[str, Any]]:
    r = alice.call("GET", f"/apps/{app_id}/deployments")
    assert r.status_code == 200, r.json
    return list(r.json["deployments"])


def test_a_rolling_deployment_never_serves_fewer_instances_than_asked(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = push_two(stack, alice, tmp_path)
    old_servers = {i["server_id"] for i in app["instance_states"]}
    with RoutedWatch(stack, app["id"]) as watch:
        r = release(alice, tmp_path, app["id"], V2)
        assert r.status_code == 201, r.json
        v2 = r.json["release"]["id"]
        app = alice.wait_app(app["id"], running_on(v2, 2))
    assert app["deployment"]["state"] == "DEPLOYED"
    assert watch.fewest == 2  # two routed members at every sample, old or new
    assert len(watch.addresses) == 4  # and all four instances served at some point
    wait(lambda: live_servers(stack) == {i["server_id"] for i in app["instance_states"]})
    assert not old_servers & live_servers(stack)
    (latest, first) = deployments(alice, app["id"])
    assert (latest["strategy"], latest["state"], latest["revision"]) == ("rolling", "DEPLOYED", 2)
    assert latest["previous_release_id"] == first["release_id"]
    events = [e["type"] for e in alice.call("GET", f"/apps/{app['id']}/events").json["events"]]
    assert events.count("app.deployed") == 2


def test_a_canary_pauses_then_continues(stack: Stack, alice: PaasUser, tmp_path: Path) -> None:
    app = push_two(stack, alice, tmp_path)
    v1 = app["release_id"]
    r = release(alice, tmp_path, app["id"], V2, strategy="canary")
    assert r.status_code == 201, r.json
    v2 = r.json["release"]["id"]
    app = alice.wait_app(app["id"], lambda a: a["deployment"]["state"] == "PAUSED")
    routed = sorted(i["release_id"] for i in app["instance_states"] if i["state"] == "RUNNING")
    assert routed == sorted([v1, v2])  # half the traffic on each version
    # One deployment at a time: a second push waits for this one.
    again = release(alice, tmp_path, app["id"], V1)
    assert (
        again.status_code == 409 and "continue or cancel it first" in again.json["error"]["message"]
    )
    r = alice.call("POST", f"/apps/{app['id']}/actions/continue-deployment", json={})
    assert r.status_code == 200, r.json
    app = alice.wait_app(app["id"], running_on(v2, 2))
    assert app["deployment"]["state"] == "DEPLOYED"
    assert [d["state"] for d in deployments(alice, app["id"])] == ["DEPLOYED", "DEPLOYED"]
    r = alice.call("POST", f"/apps/{app['id']}/actions/continue-deployment", json={})
    assert r.status_code == 409, r.json


def test_a_cancelled_canary_puts_every_request_back_on_the_old_release(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = push_two(stack, alice, tmp_path)
    v1 = app["release_id"]
    with RoutedWatch(stack, app["id"]) as watch:
        r = release(alice, tmp_path, app["id"], V2, strategy="canary", instance_steps=[50])
        app = alice.wait_app(app["id"], lambda a: a["deployment"]["state"] == "PAUSED")
        canary = {i["server_id"] for i in app["instance_states"] if i["release_id"] != v1}
        assert len(canary) == 1
        old = {
            i["address"]
            for i in app["instance_states"]
            if i["release_id"] == v1 and i["state"] == "RUNNING"
        }
        assert len(old) == 1
        r = alice.call("POST", f"/apps/{app['id']}/actions/cancel-deployment", json={})
        assert r.status_code == 200, r.json
        # Once the cancel is answered, only the old release's instance is routed: the
        # canary left the router at once, and the old release starts its second again.
        members = stack.drivers.router.members[app["id"]].values()
        assert {m.address for m in members if m.routed} == old
        app = alice.wait_app(app["id"], running_on(v1, 2))
    assert watch.fewest == 1  # never none
    assert app["deployment"]["state"] == "CANCELED" and app["release_id"] == v1
    wait(lambda: not canary & live_servers(stack))
    latest = deployments(alice, app["id"])[0]
    assert (latest["state"], latest["reason"]) == ("CANCELED", "cancelled by a user")
    members = stack.drivers.router.members[app["id"]].values()
    assert {m.address for m in members} == {i["address"] for i in app["instance_states"]}


def test_a_new_release_that_never_gets_healthy_fails_and_the_old_one_keeps_serving(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = push_two(stack, alice, tmp_path)
    v1 = app["release_id"]
    r = alice.call(
        "PATCH", f"/apps/{app['id']}", json={"app": {"name": "web", "instances": 2, "timeout": 2}}
    )
    assert r.status_code == 200, r.json
    for member in range(2, 5):  # the new instances' router members never pass their check
        stack.drivers.router.set_health(app["id"], member, "DOWN")
    with RoutedWatch(stack, app["id"]) as watch:
        r = release(alice, tmp_path, app["id"], V2)
        new = alice.wait_app(app["id"], lambda a: len(a["instance_states"]) == 3)
        (fresh,) = [i for i in new["instance_states"] if i["release_id"] != v1]
        from tests.workflows.test_paas_flow import guest_says

        guest_says(stack, fresh["server_id"], "NIMBUS APP STARTED 0", "cannot reach the db")
        app = alice.wait_app(app["id"], lambda a: a["deployment"]["state"] == "FAILED")
    assert watch.fewest == 2
    error = app["deployment"]["error"]
    assert "health check did not pass within 2 s" in error and "cannot reach the db" in error
    app = alice.wait_app(app["id"], running_on(v1, 2))
    assert app["state"] == "STARTED" and app["release_id"] == v1
    wait(lambda: fresh["server_id"] not in live_servers(stack))
    latest = deployments(alice, app["id"])[0]
    assert latest["state"] == "FAILED" and "cannot reach the db" in latest["reason"]
    kinds = [e["type"] for e in alice.call("GET", f"/apps/{app['id']}/events").json["events"]]
    assert "app.rolled_back" in kinds


def test_rollback_deploys_an_old_revision_without_staging(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = push_two(stack, alice, tmp_path)
    r = release(alice, tmp_path, app["id"], V2)
    app = alice.wait_app(app["id"], running_on(r.json["release"]["id"], 2))
    with stack.db.session() as s:
        builds = s.scalar(select(func.count()).select_from(Build))
    r = alice.call("POST", f"/apps/{app['id']}/actions/rollback", json={"revision": 1})
    assert r.status_code == 201, r.json
    v3 = r.json["release"]
    assert v3["version"] == 3 and v3["description"] == "rollback to revision 1"
    releases = alice.call("GET", f"/apps/{app['id']}/releases").json["releases"]
    assert v3["build_id"] == next(x["build_id"] for x in releases if x["version"] == 1)
    app = alice.wait_app(app["id"], running_on(v3["id"], 2))
    with stack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Build)) == builds  # no staging
    # A rollback is itself a revision: it can be rolled back.
    r = alice.call("POST", f"/apps/{app['id']}/actions/rollback", json={"revision": 2})
    assert r.status_code == 201 and r.json["release"]["version"] == 4
    alice.wait_app(app["id"], running_on(r.json["release"]["id"], 2))


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"strategy": "blue-green"}, 400, "'strategy' must be one of"),
        ({"max_in_flight": 0}, 400, "'max_in_flight'"),
        ({"instance_steps": [50]}, 400, "for the canary strategy"),
        ({"strategy": "canary", "instance_steps": [50, 20]}, 400, "must rise"),
        ({"strategy": "canary", "instance_steps": [0]}, 400, "percentages from 1 to 100"),
    ],
)
def test_bad_deployment_settings_are_refused_before_anything_runs(
    stack: Stack, alice: PaasUser, tmp_path: Path, body: dict[str, Any], status: int, words: str
) -> None:
    r = alice.call("POST", "/apps", json={"app": {"name": "web"}})
    app_id = r.json["app"]["id"]
    r = release(alice, tmp_path, app_id, V1, **body)
    assert r.status_code == status and words in r.json["error"]["message"], r.json
    assert alice.call("GET", f"/apps/{app_id}/releases").json["releases"] == []


def test_rollback_and_deployment_actions_refuse_what_cannot_be_done(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = push_two(stack, alice, tmp_path)
    path = f"/apps/{app['id']}/actions"
    r = alice.call("POST", f"{path}/rollback", json={"revision": 7})
    assert r.status_code == 404 and "no revision 7" in r.json["error"]["message"]
    r = alice.call("POST", f"{path}/rollback", json={"revision": "1"})
    assert r.status_code == 400
    r = alice.call("POST", f"{path}/cancel-deployment", json={})
    assert r.status_code == 409 and "no deployment" in r.json["error"]["message"]
    rita = PaasUser(stack, "rita")
    assert rita.call("POST", f"{path}/rollback", json={"revision": 1}).status_code == 403
    assert rita.call("GET", f"/apps/{app['id']}/deployments").status_code == 200


def test_a_restart_replaces_every_instance_at_once_after_a_rolling_deploy(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    """A restart recreates, as ``nimbus app restart`` says, whatever the strategy of the
    deployment before it: the old instances leave the router before new ones are routed."""
    app = push_two(stack, alice, tmp_path)  # deployed rolling, the default
    old = {i["server_id"] for i in app["instance_states"]}
    with RoutedWatch(stack, app["id"]) as watch:
        r = alice.call("POST", f"/apps/{app['id']}/actions/restart", json={})
        assert r.status_code == 200, r.json
        app = alice.wait_app(
            app["id"],
            lambda a: (
                running_on(a["release_id"], 2)(a)
                and not old & {i["server_id"] for i in a["instance_states"]}
            ),
        )
    assert watch.fewest == 0 and app["deployment"]["state"] == "DEPLOYED"
