"""The worker SIGKILLed right after a step of staging, push, scale or a rolling deploy did
its work (before Temporal heard of it): once a worker runs again, every operation completes
and nothing is orphaned: no server, droplet image or router entry without its app, no app
stuck. Through a rolling deploy a request loop runs against the app the whole time, and
sees no failed request: the router keeps serving while the worker is dead.

CI runs a sample of the steps; ``NIMBUS_CRASH_MATRIX=full`` runs every one.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import tarfile
import threading
import time
from typing import Any

import pytest
import requests
from sqlalchemy import select

from nimbus.db import Database, Image
from nimbus.db_paas import Build
from paas.requestloop import RequestLoop
from paas.router.haproxy import HaproxyRouter
from tests.support.cloud import Cloud, wait_for
from tests.support.paas_worker import PausingWorker

pytestmark = pytest.mark.e2e

#: (step the worker dies after, the operation it dies in). CI's sample is the step with
#: the most to lose in a rolling deploy (an old instance's server deleted while the new
#: ones serve, a request loop running); every activity is also run twice over fakes in
#: tests/workflows/test_crash_matrix.py.
SAMPLE = [("delete_server", "rolling")]
FULL = [
    *SAMPLE,
    ("create_instance", "push"),
    ("stage", "push"),
    ("delete_server", "scale"),
    ("upload_droplet", "push"),
    ("finish_build", "push"),
    ("ensure_space", "push"),
    ("ensure_route", "push"),
    ("set_members", "push"),
    ("create_instance", "scale"),
    ("create_instance", "rolling"),
    ("set_members", "rolling"),
    ("record_deployment", "rolling"),
]
STEPS = FULL if os.environ.get("NIMBUS_CRASH_MATRIX") == "full" else SAMPLE
SITE = b"<h1>crash test</h1>\n"


class Paas:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.client = cloud.client()

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.client.call(method, f"/paas/v1{path}", **kw)

    def app(self, app_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/apps/{app_id}").json()["app"])

    def create(self, name: str, instances: int = 1) -> str:
        body = {"app": {"name": name, "memory": "64M", "instances": instances}}
        r = self.call("POST", "/apps", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["app"]["id"])

    def upload(self, name: str, version: str = "") -> str:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("index.html")
            body = version.encode() + SITE + name.encode()
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        headers = {"Content-Type": "application/octet-stream"}
        assert self.call("PUT", f"/packages/{sha}", data=data, headers=headers).status_code == 201
        return sha

    def build(self, app_id: str, sha: str) -> str:
        r = self.call("POST", f"/apps/{app_id}/builds", json={"package": sha})
        assert r.status_code == 202, r.text
        return str(r.json()["build"]["id"])

    def staged(self, app_id: str, build_id: str) -> None:
        def state() -> str:
            return str(
                self.call("GET", f"/apps/{app_id}/builds/{build_id}").json()["build"]["state"]
            )

        wait_for(lambda: state() != "STAGING", 300, "staging to end", interval=1)
        assert state() == "STAGED"

    def release(self, app_id: str, build_id: str, strategy: str = "rolling") -> None:
        """Deploy; the request may give up (503) while the worker is dead: that is fine."""
        body = {"build_id": build_id, "strategy": strategy}
        r = self.call("POST", f"/apps/{app_id}/releases", json=body)
        assert r.status_code in (201, 503), r.text

    def deployed(self, app_id: str, count: int) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            app = self.app(app_id)
            states = app["instance_states"]
            running = [i for i in states if i["state"] == "RUNNING"]
            ok = app["deployment"]["state"] == "DEPLOYED" and len(running) == len(states) == count
            return app if ok else None

        result: dict[str, Any] = wait_for(done, 400, "the deployment", interval=1)
        return result


def restart_worker(cloud: Cloud) -> None:
    result = cloud.nimbus("up")
    assert result.returncode == 0, result.stderr


def get(cloud: Cloud, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", cloud.settings.router_port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host})
        return conn.getresponse().status
    finally:
        conn.close()


def assert_consistent(paas: Paas, app: dict[str, Any]) -> None:
    """Servers, droplet images and router members are exactly the app's own."""
    cloud = paas.cloud
    prefix = f"{app['name']}-"
    servers = {
        s["ID"] for s in cloud.openstack_json("server", "list") if s["Name"].startswith(prefix)
    }
    wait_for(
        lambda: (
            {
                s["ID"]
                for s in cloud.openstack_json("server", "list")
                if s["Name"].startswith(prefix)
            }
            == {i["server_id"] for i in paas.app(app["id"])["instance_states"]}
        ),
        120,
        "servers to match the instances",
    )
    del servers
    with Database(cloud.settings.db_url).session() as s:
        builds = list(s.scalars(select(Build).where(Build.app_id == app["id"])))
        for build in builds:
            images = s.scalars(
                select(Image).where(Image.name == f"droplet-{build.id}", Image.deleted_at.is_(None))
            ).all()
            assert len(images) == (1 if build.state == "STAGED" else 0), build.id
    router = HaproxyRouter(cloud.settings.paas_dir / "router")
    # A member just added is DOWN until HAProxy's own checks pass (``rise``): wait them out.
    up = ["UP"] * len(app["instance_states"])
    wait_for(
        lambda: sorted(router.member_health(app["id"]).values()) == up,
        30,
        lambda: f"members to be UP: {router.member_health(app['id'])}",
    )
    assert get(cloud, f"{app['name']}.apps.localhost") == 200


def assert_gone(paas: Paas, app: dict[str, Any]) -> None:
    assert paas.call("DELETE", f"/apps/{app['id']}").status_code == 202
    wait_for(lambda: paas.call("GET", f"/apps/{app['id']}").status_code == 404, 300, "the delete")
    prefix = f"{app['name']}-"
    wait_for(
        lambda: (
            not [
                s
                for s in paas.cloud.openstack_json("server", "list")
                if s["Name"].startswith(prefix)
            ]
        ),
        120,
        "its servers gone",
    )
    assert app["id"] not in HaproxyRouter(paas.cloud.settings.paas_dir / "router").routes()


def crash_at(cloud: Cloud, step: str, action: Any) -> None:
    """Run ``action`` with a worker that dies right after ``step``, then a healthy one."""
    worker = PausingWorker(cloud.settings, step)
    thread = threading.Thread(target=action, daemon=True)
    try:
        thread.start()
        worker.wait_paused()
    finally:
        worker.kill()
        restart_worker(cloud)
    thread.join(120)
    assert not thread.is_alive()


@pytest.mark.parametrize(("step", "operation"), STEPS, ids=[f"{o}-{s}" for s, o in STEPS])
def test_the_worker_killed_after_a_step_leaves_nothing_half_done(
    cloud: Cloud, step: str, operation: str
) -> None:
    paas = Paas(cloud)
    name = f"crash-{step.replace('_', '-')}-{operation}"[:40]
    if operation != "rolling":
        app_id = paas.create(name)
        sha = paas.upload(name)
    if operation == "push":
        ids: dict[str, str] = {}

        def push() -> None:
            ids["build"] = paas.build(app_id, sha)
            paas.staged(app_id, ids["build"])
            paas.release(app_id, ids["build"])

        crash_at(cloud, step, push)
        wanted = 1
    elif operation == "rolling":
        wanted = 2
        app_id = paas.create(name, instances=wanted)
        first = paas.build(app_id, paas.upload(name, "v1"))
        paas.staged(app_id, first)
        paas.release(app_id, first)
        paas.deployed(app_id, wanted)
        second = paas.build(app_id, paas.upload(name, "v2"))
        paas.staged(app_id, second)
        router = ("127.0.0.1", cloud.settings.router_port)
        with RequestLoop(router, f"{name}.apps.localhost", interval=0.1) as loop:
            crash_at(cloud, step, lambda: paas.release(app_id, second))
            app = paas.deployed(app_id, wanted)
        assert loop.result.failures == 0, (loop.result.statuses, loop.result.errors[:5])
        assert loop.result.versions == ["v1<h1>crash", "v2<h1>crash"], loop.result.versions
        assert {i["release_id"] for i in app["instance_states"]} == {app["release_id"]}
    else:
        build = paas.build(app_id, sha)
        paas.staged(app_id, build)
        paas.release(app_id, build)
        paas.deployed(app_id, 1)
        wanted = 2 if step == "create_instance" else 1
        if step == "delete_server":
            assert paas.call("POST", f"/apps/{app_id}/actions/scale", json={"instances": 2}).ok
            paas.deployed(app_id, 2)

        def scale() -> None:
            r = paas.call("POST", f"/apps/{app_id}/actions/scale", json={"instances": wanted})
            assert r.status_code in (200, 503), r.text

        crash_at(cloud, step, scale)
    app = paas.deployed(app_id, wanted)
    time.sleep(1)
    assert_consistent(paas, app)
    assert_gone(paas, app)
