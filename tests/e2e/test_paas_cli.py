"""The PaaS layer for real: ``nimbus app`` pushes the samples onto a cloud started with
``nimbus up``; instances are real guests (TCG) on the project's app network, reached
through the cloud's HAProxy router from the network's own DHCP namespace.

Requests to the router go to 127.0.0.1 with the app's Host header (Python does not resolve
``*.localhost``); every packet to an instance stays on bridges and namespaces the cloud
made.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from nimbus.config import CHECKOUT
from paas.requestloop import RequestLoop
from paas.router.haproxy import HaproxyRouter
from tests.support.cloud import LIBVIRT_URI, Cloud, wait_for
from tests.support.guest import GuestShell

pytestmark = pytest.mark.e2e

SAMPLES = CHECKOUT / "paas" / "samples"
FLASK, STATIC = "flask-sample", "static-sample"


def app(cloud: Cloud, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return cloud.nimbus("app", *args, timeout=timeout)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def get(cloud: Cloud, host: str, path: str = "/") -> tuple[int, str]:
    """GET through the router with the app's host name."""
    conn = http.client.HTTPConnection("127.0.0.1", cloud.settings.router_port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": f"{host}:{cloud.settings.router_port}"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def show(cloud: Cloud, name: str) -> dict[str, Any]:
    return dict(json.loads(ok(app(cloud, "show", name, "--json"))))


def servers(cloud: Cloud, prefix: str) -> list[dict[str, Any]]:
    rows = cloud.openstack_json("server", "list")
    return [r for r in rows if r["Name"].startswith(prefix)]


@pytest.fixture(scope="module")
def pushed(cloud: Cloud) -> Iterator[Cloud]:
    """Both samples pushed; deleted again at the end, leaving nothing behind."""
    yield cloud
    for name in (FLASK, STATIC, "broken-deps", "never-healthy"):
        app(cloud, "delete", name)
    wait_for(
        lambda: not servers(cloud, "flask-sample") and not servers(cloud, "static"),
        120,
        "app servers gone",
    )


def test_push_a_static_site(pushed: Cloud) -> None:
    out = ok(app(pushed, "push", str(SAMPLES / "static-site")))
    url = f"http://{STATIC}.apps.localhost:{pushed.settings.router_port}/"
    assert out.rstrip().endswith(url), out
    assert "-----> " in out and "instance 0 (v1): RUNNING" in out
    status, body = get(pushed, f"{STATIC}.apps.localhost")
    assert status == 200 and "A static site served by Nimbus" in body


def test_push_the_flask_app(pushed: Cloud) -> None:
    out = ok(app(pushed, "push", str(SAMPLES / "flask-app")))
    assert "Collecting" in out or "wheel" in out, out  # pip's own output, shown as it runs
    assert out.rstrip().endswith(f"http://{FLASK}.apps.localhost:{pushed.settings.router_port}/")
    status, body = get(pushed, f"{FLASK}.apps.localhost")
    assert status == 200 and "Hello from flask-sample, instance 0" in body
    (server,) = servers(pushed, "flask-sample")
    assert server["Name"] == "flask-sample-0" and server["Status"] == "ACTIVE"


def test_an_unchanged_push_uploads_nothing(pushed: Cloud) -> None:
    out = ok(app(pushed, "push", str(SAMPLES / "static-site")))
    assert "Package unchanged: nothing to upload" in out


@pytest.mark.long  # CI follows scaling over fakes (tests/workflows/test_paas_flow.py)
def test_scale_to_three_and_back_to_one(pushed: Cloud) -> None:
    ok(app(pushed, "scale", FLASK, "-i", "3"))
    assert sorted(s["Name"] for s in servers(pushed, "flask-sample")) == [
        f"flask-sample-{i}" for i in range(3)
    ]
    seen: set[str] = set()
    for _ in range(60):
        status, body = get(pushed, f"{FLASK}.apps.localhost")
        assert status == 200, body
        seen.add(body.split("instance ")[1].split()[0])
        if len(seen) == 3:
            break
    assert seen == {"0", "1", "2"}

    def request_lines_of_each() -> bool:
        lines = ok(app(pushed, "logs", FLASK, "--recent", "-n", "1000")).splitlines()
        return all(
            any(f"[APP/{index}]" in line and "GET / HTTP" in line for line in lines)
            for index in range(3)
        )

    wait_for(request_lines_of_each, 60, "each instance's request lines in the log", interval=2)
    ok(app(pushed, "scale", FLASK, "-i", "1"))
    wait_for(lambda: len(servers(pushed, "flask-sample")) == 1, 120, "two servers deleted")
    router = HaproxyRouter(pushed.settings.paas_dir / "router")
    assert sorted(router.member_health(show(pushed, FLASK)["id"])) == [0]


def _replaced(pushed: Cloud, old_server: str) -> dict[str, Any]:
    def serving() -> dict[str, Any] | None:
        info = show(pushed, FLASK)
        states = info["instance_states"]
        fresh = [i for i in states if i["server_id"] != old_server and i["state"] == "RUNNING"]
        return info if fresh and len(states) == 1 else None

    info: dict[str, Any] = wait_for(serving, 240, "a replacement instance", interval=1)
    assert get(pushed, f"{FLASK}.apps.localhost")[0] == 200
    return info


def test_a_killed_app_process_is_replaced(pushed: Cloud) -> None:
    old = show(pushed, FLASK)["instance_states"][0]["server_id"]
    domain = f"{pushed.settings.instance_prefix}{old}"
    with GuestShell(LIBVIRT_URI, domain) as shell:
        shell.run("kill $(pidof python3.11 python3)", timeout=20)
    _replaced(pushed, old)
    events = ok(app(pushed, "events", FLASK))
    assert "app.crash" in events and "exited with status" in events, events


def test_a_destroyed_instance_is_replaced(pushed: Cloud) -> None:
    old = show(pushed, FLASK)["instance_states"][0]["server_id"]
    subprocess.run(
        ["virsh", "-c", LIBVIRT_URI, "destroy", f"{pushed.settings.instance_prefix}{old}"],
        check=True,
        capture_output=True,
    )
    _replaced(pushed, old)
    assert "SHUTOFF" in ok(app(pushed, "events", FLASK))


def test_a_requirement_that_cannot_be_installed_fails_staging(
    pushed: Cloud, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text("print('never runs')\n")
    (tmp_path / "requirements.txt").write_text("nimbus-no-such-package-zz==0.0.1\n")
    result = app(pushed, "push", str(tmp_path), "--name", "broken-deps")
    assert result.returncode == 1
    assert (
        "No matching distribution found for nimbus-no-such-package-zz"
        in result.stdout + result.stderr
    )
    assert servers(pushed, "broken-deps") == []


def test_an_app_that_never_gets_healthy_fails_and_leaves_nothing_running(
    pushed: Cloud, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(
        "import time\nprint('not listening', flush=True)\ntime.sleep(3600)\n"
    )
    (tmp_path / "manifest.yml").write_text(
        "applications:\n- name: never-healthy\n  memory: 128M\n  timeout: 15\n"
    )
    result = app(pushed, "push", str(tmp_path))
    assert result.returncode == 1
    text = result.stdout + result.stderr
    assert "health check did not pass within 15 s" in text and "not listening" in text, text
    wait_for(lambda: servers(pushed, "never-healthy") == [], 120, "its instance deleted")


def test_a_rolling_deploy_drops_no_request(pushed: Cloud, tmp_path: Path) -> None:
    """A new version of the Flask sample, on two instances, rolled out while a steady
    request loop runs through the router: every request answered 200, none refused or cut,
    and the answers switch from the old greeting to the new one."""
    folder = tmp_path / "flask-app"
    shutil.copytree(SAMPLES / "flask-app", folder)
    manifest = (folder / "manifest.yml").read_text()
    manifest = manifest.replace("instances: 1", "instances: 2").replace("Hello", "Howdy")
    (folder / "manifest.yml").write_text(manifest)
    ok(app(pushed, "scale", FLASK, "-i", "2"))
    host = f"{FLASK}.apps.localhost:{pushed.settings.router_port}"
    router = ("127.0.0.1", pushed.settings.router_port)
    with RequestLoop(router, host, interval=0.05, numbered=True) as loop:
        time.sleep(1)
        out = ok(app(pushed, "push", str(folder), "--strategy", "rolling", "--max-in-flight", "2"))
        time.sleep(1)
    result = loop.result
    assert result.failures == 0, (result.statuses, result.errors[:5])
    assert result.versions == ["Hello", "Howdy"], result.versions
    assert result.sequence[-1] == "Howdy" and result.requests > 100
    assert "rolling deployment on 2 instance(s)" in out and "is running" in out
    info = show(pushed, FLASK)
    serving = [i for i in info["instance_states"] if i["state"] != "STOPPING"]  # not drained
    assert [i["state"] for i in serving] == ["RUNNING", "RUNNING"]
    assert {i["release_id"] for i in serving} == {info["release_id"]}
    deployments = ok(app(pushed, "deployments", FLASK)).splitlines()
    assert "rolling" in deployments[1] and "DEPLOYED" in deployments[1], deployments
    wait_for(lambda: len(servers(pushed, "flask-sample")) == 2, 120, "the old servers deleted")

    # One continuous log across the deploy: every request answered, by an old instance or
    # a new one, has its line in `nimbus app logs`, those of the deleted servers too.
    missing = set(result.answered)

    def all_logged() -> bool:
        out = ok(app(pushed, "logs", FLASK, "--recent", "-n", "5000"))
        missing.difference_update(int(n) for n in re.findall(r"GET /\?n=(\d+) HTTP", out))
        return not missing

    try:
        wait_for(all_logged, 60, "every request's log line")
    except AssertionError as exc:
        raise AssertionError(f"{len(missing)} not logged, e.g. {sorted(missing)[:10]}") from exc
    # The router counted the loop's requests (those of a reload's old process since the
    # last look are not seen): the supervisor's totals show them, in `nimbus app show` and
    # on the API's /metrics.
    wait_for(
        lambda: show(pushed, FLASK)["metrics"]["responses"].get("2xx", 0) > 0,
        60,
        "the router's counts recorded",
        interval=2,
    )
    assert "requests:" in ok(app(pushed, "show", FLASK))
    metrics = f"{pushed.settings.public_url}/metrics"
    scrape = requests.get(metrics, timeout=10, verify=pushed.settings.api_verify).text
    assert f'nimbus_app_responses_total{{app="{FLASK}"' in scrape


def _version(tmp_path: Path, greeting: str) -> Path:
    """The Flask sample on two instances, greeting with ``greeting``."""
    folder = tmp_path / greeting
    shutil.copytree(SAMPLES / "flask-app", folder)
    manifest = (folder / "manifest.yml").read_text()
    manifest = manifest.replace("instances: 1", "instances: 2").replace("Hello", greeting)
    (folder / "manifest.yml").write_text(manifest)
    return folder


def _greetings(cloud: Cloud, count: int = 40) -> set[str]:
    answers = [get(cloud, f"{FLASK}.apps.localhost") for _ in range(count)]
    assert {status for status, _ in answers} == {200}, answers[:3]
    return {body.split()[0] for _, body in answers}


@pytest.mark.long  # CI follows canaries over fakes (tests/workflows/test_paas_deploy.py)
def test_a_canary_pauses_with_part_of_the_traffic_then_continues_or_is_cancelled(
    pushed: Cloud, tmp_path: Path
) -> None:
    """Runs after the rolling deploy (two instances greeting Howdy). A canary of Hola
    pauses after its first step with both versions answering, and continuing puts every
    instance on Hola; a canary of Ciao is cancelled while a request loop runs: no request
    fails, every answer is Hola again and the canary's server is gone."""
    out = ok(app(pushed, "push", str(_version(tmp_path, "Hola")), "--strategy", "canary"))
    assert "Deployment paused" in out, out
    assert _greetings(pushed) == {"Howdy", "Hola"}
    out = ok(app(pushed, "continue-deployment", FLASK))
    assert "is running" in out, out
    assert _greetings(pushed) == {"Hola"}
    wait_for(lambda: len(servers(pushed, "flask-sample")) == 2, 120, "the old servers deleted")

    out = ok(app(pushed, "push", str(_version(tmp_path, "Ciao")), "--strategy", "canary"))
    assert "Deployment paused" in out, out
    host = f"{FLASK}.apps.localhost:{pushed.settings.router_port}"
    with RequestLoop(("127.0.0.1", pushed.settings.router_port), host) as loop:
        cancelled = app(pushed, "cancel-deployment", FLASK)
        time.sleep(1)
    assert cancelled.returncode == 1 and "was cancelled" in cancelled.stderr, cancelled
    assert loop.result.failures == 0, (loop.result.statuses, loop.result.errors[:5])
    assert loop.result.sequence[-1] == "Hola"
    assert _greetings(pushed) == {"Hola"}
    wait_for(lambda: len(servers(pushed, "flask-sample")) == 2, 120, "the canary's server gone")
    deployments = ok(app(pushed, "deployments", FLASK)).splitlines()
    assert "canary" in deployments[1] and "CANCELED" in deployments[1], deployments


@pytest.mark.long  # a load step on the real cloud; CI follows autoscaling over fakes
def test_autoscaling_follows_a_load_step_within_its_bounds(pushed: Cloud) -> None:
    """Runs after the canary (two instances). Without load the supervisor keeps the
    minimum; a steady request loop raises the count to the maximum; once the loop stops,
    the count comes back down after the cooldown. No request fails on the way, and every
    change is an event that says why."""
    ok(
        app(
            pushed, "autoscale", FLASK, "--min", "1", "--max", "3", "--rps", "3", "--cooldown", "10"
        )
    )

    def instances() -> int:
        return int(show(pushed, FLASK)["instances"])

    def running() -> int:
        states = show(pushed, FLASK)["instance_states"]
        return len([i for i in states if i["state"] == "RUNNING"])

    wait_for(lambda: instances() == 1 and running() == 1, 180, "the minimum without load")
    host = f"{FLASK}.apps.localhost:{pushed.settings.router_port}"
    with RequestLoop(("127.0.0.1", pushed.settings.router_port), host, interval=0.02) as loop:
        wait_for(lambda: instances() == 3, 180, "the maximum under load", interval=2)
        wait_for(lambda: running() == 3, 300, "three instances running", interval=2)
    wait_for(lambda: instances() == 1, 180, "the minimum again after the load", interval=2)
    assert loop.result.failures == 0, (loop.result.statuses, loop.result.errors[:5])
    events = ok(app(pushed, "events", FLASK, "--limit", "100"))
    assert "scaled from 1 to" in events, events
    assert "to 1 instance(s)" in events and "requests/s for 3 per instance" in events
    ok(app(pushed, "autoscale", FLASK, "--off"))
