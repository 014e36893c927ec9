"""The PaaS layer end to end over fake drivers: the real API (served over HTTP, since the
PaaS worker is its client), the real workflows on a real Temporal server, a fake
hypervisor, network, block store, router and droplet writer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from nimbus.db import Image, Server
from nimbus.db_paas import App, AppRoute, Build, Instance, Release
from tests.support.paas import STATIC_SITE, PaasUser, alice, stack
from tests.support.stack import Stack

__all__ = ["alice", "stack"]  # fixtures, used by name


def deployed(app: dict[str, Any]) -> bool:
    return app["deployment"]["state"] in ("DEPLOYED", "FAILED")


def live_servers(stack: Stack) -> list[Server]:
    with stack.db.session() as s:
        return list(s.scalars(select(Server).where(Server.deleted_at.is_(None))))


def router(stack: Stack) -> Any:
    return stack.drivers.router


def test_push_runs_a_routed_instance(stack: Stack, alice: PaasUser, tmp_path: Path) -> None:
    app = alice.push(tmp_path, "web", STATIC_SITE)
    app = alice.wait_app(app["id"], deployed)
    assert app["deployment"]["state"] == "DEPLOYED", app
    assert app["urls"] == [f"http://web.apps.localhost:{stack.settings.router_port}/"]
    (inst,) = app["instance_states"]
    assert inst["state"] == "RUNNING" and inst["address"]
    (server,) = live_servers(stack)
    assert server.id == inst["server_id"] and server.name == "web-0"
    assert router(stack).routes()[app["id"]].hostnames == ("web.apps.localhost",)
    members = router(stack).members[app["id"]]
    assert members[0].address == inst["address"] and members[0].routed


def test_staging_output_and_events_are_in_the_apps_log(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = alice.wait_app(alice.push(tmp_path, "web", STATIC_SITE)["id"], deployed)
    lines = alice.call("GET", f"/apps/{app['id']}/logs").json["lines"]
    assert any(x["source"] == "STG" and "static" in x["line"].lower() for x in lines), lines
    # The supervisor records the event right after the state readers poll for.
    deadline, kinds = time.monotonic() + 10, []
    while "app.deployed" not in kinds and time.monotonic() < deadline:
        time.sleep(0.05)
        events = alice.call("GET", f"/apps/{app['id']}/events").json["events"]
        kinds = [e["type"] for e in events]
    assert "app.deploy" in kinds and "app.deployed" in kinds


def test_scale_up_and_down(stack: Stack, alice: PaasUser, tmp_path: Path) -> None:
    app = alice.wait_app(alice.push(tmp_path, "web", STATIC_SITE)["id"], deployed)
    r = alice.call("POST", f"/apps/{app['id']}/actions/scale", json={"instances": 3})
    assert r.status_code == 200, r.json

    def running(n: int) -> Any:
        return lambda a: (
            sum(i["state"] == "RUNNING" for i in a["instance_states"])
            == n
            == len(a["instance_states"])
        )

    app = alice.wait_app(app["id"], running(3))
    assert len(live_servers(stack)) == 3
    assert sorted(router(stack).members[app["id"]]) == [0, 1, 2]
    alice.call("POST", f"/apps/{app['id']}/actions/scale", json={"instances": 1})
    app = alice.wait_app(app["id"], running(1))
    stack.wait_server(app["instance_states"][0]["server_id"], lambda s: s is not None)
    _wait(lambda: len(live_servers(stack)) == 1)
    assert sorted(router(stack).members[app["id"]]) == [0]


def test_a_destroyed_instance_is_replaced(stack: Stack, alice: PaasUser, tmp_path: Path) -> None:
    app = alice.wait_app(alice.push(tmp_path, "web", STATIC_SITE)["id"], deployed)
    old = app["instance_states"][0]["server_id"]
    stack.hypervisor.destroy(f"{stack.settings.instance_prefix}{old}")
    app = alice.wait_app(
        app["id"],
        lambda a: any(
            i["server_id"] != old and i["state"] == "RUNNING" for i in a["instance_states"]
        ),
    )
    events = alice.call("GET", f"/apps/{app['id']}/events").json["events"]
    crash = next(e for e in events if e["type"] == "app.crash")
    assert crash["details"]["index"] == 0 and "SHUTOFF" in crash["details"]["reason"]
    _wait(lambda: [s.id for s in live_servers(stack)] == [app["instance_states"][0]["server_id"]])


def test_a_running_instance_whose_check_fails_is_unrouted_then_replaced(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = alice.wait_app(alice.push(tmp_path, "web", STATIC_SITE)["id"], deployed)
    old = app["instance_states"][0]["server_id"]
    router(stack).set_health(app["id"], 0, "DOWN")
    app = alice.wait_app(
        app["id"], lambda a: a["instance_states"] and a["instance_states"][0]["server_id"] != old
    )
    router(stack).set_health(app["id"], 0, "UP")
    app = alice.wait_app(app["id"], lambda a: a["instance_states"][0]["state"] == "RUNNING")
    events = alice.call("GET", f"/apps/{app['id']}/events").json["events"]
    assert any(e["message"] == "instance 0 crashed: its port health check failed" for e in events)


def test_an_app_that_never_gets_healthy_fails_its_push_and_leaves_nothing_running(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    r = alice.call("POST", "/apps", json={"app": {"name": "sick", "timeout": 2}})
    app_id = r.json["app"]["id"]
    build = alice.stage(tmp_path, app_id, STATIC_SITE)
    r = alice.call("POST", f"/apps/{app_id}/releases", json={"build_id": build["id"]})
    router(stack).set_health(app_id, 0, "DOWN")
    app = alice.wait_app(app_id, lambda a: bool(a["instance_states"]))
    guest_says(stack, app["instance_states"][0]["server_id"], "NIMBUS APP STARTED 0", "booting up")
    app = alice.wait_app(app_id, deployed)
    assert app["deployment"]["state"] == "FAILED"
    assert "health check did not pass within 2 s" in app["deployment"]["error"]
    assert "booting up" in app["deployment"]["error"]  # the instance's last output
    assert app["state"] == "STOPPED" and app["instance_states"] == []
    assert not any(m.routed for m in router(stack).members[app_id].values())
    _wait(lambda: live_servers(stack) == [])


def test_delete_leaves_nothing(stack: Stack, alice: PaasUser, tmp_path: Path) -> None:
    app = alice.wait_app(alice.push(tmp_path, "web", STATIC_SITE)["id"], deployed)
    assert alice.call("DELETE", f"/apps/{app['id']}").status_code == 202
    _wait(lambda: alice.call("GET", f"/apps/{app['id']}").status_code == 404, 60)
    assert live_servers(stack) == []
    assert app["id"] not in router(stack).routes()
    with stack.db.session() as s:
        for model in (App, AppRoute, Build, Release, Instance):
            assert s.scalar(select(func.count()).select_from(model)) == 0, model
        droplets = s.scalars(
            select(Image).where(Image.name.like("droplet-%"), Image.deleted_at.is_(None))
        )
        assert list(droplets) == []


def guest_says(stack: Stack, server_id: str, *lines: str) -> None:
    """Write lines to the instance's app log as its guest's second serial port would."""
    folder = stack.settings.instances_dir / server_id
    _wait(folder.exists)
    with (folder / "app.log").open("a") as f:
        f.write("".join(f"{line}\n" for line in lines))


def _wait(check: Any, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_repeated_crashes_back_off_on_the_workflows_timers(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    """Three immediate restarts, then 1 s and 2 s (the compressed schedule of the
    stack: first wait 1 s, cap 2 s): the fifth replacement comes about 2 s later than an
    immediate one."""
    app = alice.wait_app(alice.push(tmp_path, "web", STATIC_SITE)["id"], deployed)
    waits = []
    for _ in range(5):
        old = app["instance_states"][0]["server_id"]
        stack.hypervisor.destroy(f"{stack.settings.instance_prefix}{old}")
        began = time.monotonic()
        app = alice.wait_app(
            app["id"],
            lambda a, old=old: any(
                i["server_id"] != old and i["state"] == "RUNNING" for i in a["instance_states"]
            ),
        )
        waits.append(time.monotonic() - began)
    events = alice.call("GET", f"/apps/{app['id']}/events").json["events"]
    backoffs = [e["message"] for e in reversed(events) if e["type"] == "app.backoff"]
    assert backoffs == [
        "instance 0 restarts in 1 s (crash 4)",
        "instance 0 restarts in 2 s (crash 5)",
    ]
    # The fifth replacement waited its 2 s timer on top of what an immediate one takes.
    assert waits[4] - min(waits[:3]) >= 1.5, waits
