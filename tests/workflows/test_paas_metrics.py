"""App metrics and autoscaling over fake drivers: the supervisor adds up the router's
counts (across a router restart), the API and ``/metrics`` show them, and a policy scales
the app up under load and back down after its cooldown, each time saying why."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from paas.router.base import MemberStats
from tests.support.paas import STATIC_SITE, PaasUser, alice, stack
from tests.support.stack import Stack

__all__ = ["alice", "stack"]  # fixtures, used by name


def running(count: int) -> Any:
    def check(app: dict[str, Any]) -> bool:
        states = app["instance_states"]
        return len(states) == count and all(i["state"] == "RUNNING" for i in states)

    return check


def test_the_router_counts_add_up_across_a_router_restart(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = alice.push(tmp_path, "web", STATIC_SITE, instances=2)
    app = alice.wait_app(app["id"], running(2))
    router = stack.drivers.router
    members = sorted(router.members[app["id"]])
    for member in members:
        router.count(app["id"], member, MemberStats({"2xx": 10, "5xx": 1}, 12))

    def counted(a: dict[str, Any]) -> bool:
        # The app's totals and each instance's are two records of one look: wait for both.
        per_instance = [(i["responses"], i["response_ms"]) for i in a["instance_states"]]
        return (
            a["metrics"]["responses"].get("2xx") == 20
            and per_instance == [({"2xx": 10, "5xx": 1}, 12)] * 2
        )

    app = alice.wait_app(app["id"], counted)
    assert app["metrics"]["responses"]["5xx"] == 2
    # The router restarted: its counts start again from zero, the totals do not.
    for member in members:
        router.count(app["id"], member, MemberStats({"2xx": 3, "5xx": 0}, 9))
    app = alice.wait_app(app["id"], lambda a: a["metrics"]["responses"].get("2xx") == 26)
    assert app["metrics"]["responses"]["5xx"] == 2
    text = stack.client.get("/metrics").get_data(as_text=True)
    project = app["project_id"]
    line = f'nimbus_app_responses_total{{app="web",project_id="{project}",status_class="2xx"}} 26.0'
    assert line in text, text
    assert f'nimbus_app_instances{{app="web",project_id="{project}",state="RUNNING"}} 2.0' in text
    assert "nimbus_app_instance_response_seconds{" in text


class Load:
    """Raises every member's 2xx count by ``per_second`` a second, in a thread."""

    def __init__(self, stack: Stack, app_id: str, per_second: float) -> None:
        self.router, self.app_id, self.per_second = stack.drivers.router, app_id, per_second
        self.counts: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            members = list(self.router.members.get(self.app_id, {}))
            for member in members:
                self.counts[member] = self.counts.get(member, 0) + self.per_second / 10 / len(
                    members
                )
                stats = MemberStats({"2xx": int(self.counts[member])}, 5)
                self.router.count(self.app_id, member, stats)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_autoscaling_follows_the_load_within_its_bounds(
    stack: Stack, alice: PaasUser, tmp_path: Path
) -> None:
    app = alice.wait_app(alice.push(tmp_path, "web", STATIC_SITE)["id"], running(1))
    policy = {"min_instances": 1, "max_instances": 3, "requests_per_second": 10, "cooldown": 2}
    r = alice.call("PUT", f"/apps/{app['id']}/autoscaling", json={"autoscaling": policy})
    assert r.status_code == 200, r.json
    assert r.json["app"]["autoscaling"]["max_instances"] == 3
    with Load(stack, app["id"], per_second=100):  # ten instances' worth: capped at three
        app = alice.wait_app(app["id"], running(3), timeout=60)
    assert app["instances"] == 3
    app = alice.wait_app(app["id"], running(1), timeout=60)  # no load: back to the minimum
    events = alice.call("GET", f"/apps/{app['id']}/events").json["events"]
    scaled = [e for e in reversed(events) if e["type"] == "app.autoscale"]
    assert [(e["details"]["from"], e["details"]["to"]) for e in scaled] == [(1, 3), (3, 1)]
    assert "requests/s for 10 per instance, within 1 to 3" in scaled[0]["message"]
    r = alice.call("DELETE", f"/apps/{app['id']}/autoscaling")
    assert r.status_code == 200 and r.json["app"]["autoscaling"] is None


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ({"min_instances": 0, "max_instances": 2, "requests_per_second": 5}, "'min_instances'"),
        ({"min_instances": 3, "max_instances": 2, "requests_per_second": 5}, "not be below"),
        ({"min_instances": 1, "max_instances": 2, "requests_per_second": 0}, "requests_per_sec"),
        ({"min_instances": 1, "max_instances": 2, "requests_per_second": 5, "x": 1}, "Unknown"),
    ],
)
def test_impossible_policies_are_refused(
    stack: Stack, alice: PaasUser, policy: dict[str, Any], words: str
) -> None:
    r = alice.call("POST", "/apps", json={"app": {"name": "web"}})
    path = f"/apps/{r.json['app']['id']}/autoscaling"
    r = alice.call("PUT", path, json={"autoscaling": policy})
    assert r.status_code == 400 and words in r.json["error"]["message"], r.json


def test_autoscaling_needs_a_release_and_a_member(stack: Stack, alice: PaasUser) -> None:
    r = alice.call("POST", "/apps", json={"app": {"name": "web"}})
    path = f"/apps/{r.json['app']['id']}/autoscaling"
    policy = {"min_instances": 1, "max_instances": 2, "requests_per_second": 5}
    r = alice.call("PUT", path, json={"autoscaling": policy})
    assert r.status_code == 409 and "push it first" in r.json["error"]["message"]
    rita = PaasUser(stack, "rita")
    assert rita.call("PUT", path, json={"autoscaling": policy}).status_code == 403
