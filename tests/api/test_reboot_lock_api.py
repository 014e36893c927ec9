"""Server actions reboot (SOFT, HARD), lock and unlock, over the fake drivers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from activities.hypervisor.base import PowerState
from nimbus.config import Settings
from nimbus.errors import InvalidSpec
from tests.support.stack import Stack
from workflows.common import server_workflow_id

V29 = {"OpenStack-API-Version": "compute 2.9"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A short SOFT reboot bound, so the fall back to HARD is quick to see."""
    return dataclasses.replace(settings, soft_reboot_seconds=0.5)


def _h(stack: Stack, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user), **V29}


def _server(stack: Stack) -> str:
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id()}}
    r = stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack))
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _act(stack: Stack, server_id: str, body: Any, user: str = "alice") -> Any:
    url = f"/compute/v2.1/servers/{server_id}/action"
    return stack.client.post(url, json=body, headers=_h(stack, user))


def _show(stack: Stack, server_id: str, user: str = "alice") -> dict[str, Any]:
    r = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=_h(stack, user))
    return dict(r.json["server"])


def test_a_hard_reboot_powers_the_domain_off_and_on(stack: Stack) -> None:
    server_id = _server(stack)
    assert _act(stack, server_id, {"reboot": {"type": "HARD"}}).status_code == 202
    assert _show(stack, server_id)["status"] in ("HARD_REBOOT", "ACTIVE")
    assert stack.finish(server_workflow_id(server_id, "reboot")) is False
    shown = _show(stack, server_id)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("ACTIVE", None)


def test_a_soft_reboot_lets_the_guest_power_off_first(stack: Stack) -> None:
    server_id = _server(stack)
    assert _act(stack, server_id, {"reboot": {"type": "SOFT"}}).status_code == 202
    assert stack.finish(server_workflow_id(server_id, "reboot")) is True  # graceful
    assert _show(stack, server_id)["status"] == "ACTIVE"


def test_a_soft_reboot_of_a_deaf_guest_falls_back_to_hard(stack: Stack) -> None:
    stack.hypervisor.acpi_shutdown = False
    server_id = _server(stack)
    assert _act(stack, server_id, {"reboot": {"type": "SOFT"}}).status_code == 202
    assert stack.finish(server_workflow_id(server_id, "reboot")) is False
    assert _show(stack, server_id)["status"] == "ACTIVE"


def test_a_reboot_that_cannot_start_the_domain_leaves_error_with_the_reason(
    stack: Stack,
) -> None:
    server_id = _server(stack)
    stack.hypervisor.fail("start", InvalidSpec("the domain's disk is gone"))
    assert _act(stack, server_id, {"reboot": {"type": "HARD"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "reboot"))
    shown = _show(stack, server_id)
    assert shown["status"] == "ERROR" and "disk is gone" in shown["fault"]["message"]


def test_reboot_bad_input_is_refused_and_changes_nothing(stack: Stack) -> None:
    server_id = _server(stack)
    for body in ({"reboot": {}}, {"reboot": {"type": "GENTLE"}}, {"reboot": None}):
        assert _act(stack, server_id, body).status_code == 400
    assert _act(stack, server_id, {"reboot": {"type": "HARD"}}, "rita").status_code == 403
    assert _act(stack, server_id, {"reboot": {"type": "HARD"}}, "bob").status_code == 404
    assert _act(stack, "nope", {"reboot": {"type": "HARD"}}).status_code == 404
    assert _act(stack, server_id, {"os-stop": None}).status_code == 202
    stack.wait_server(server_id, lambda r: r is not None and r.status == "SHUTOFF")
    assert _act(stack, server_id, {"reboot": {"type": "SOFT"}}).status_code == 409
    assert _show(stack, server_id)["status"] == "SHUTOFF"


def test_a_locked_server_refuses_its_owner_but_not_an_admin(stack: Stack) -> None:
    server_id = _server(stack)
    assert _show(stack, server_id)["locked"] is False
    assert _act(stack, server_id, {"lock": None}).status_code == 202
    assert _show(stack, server_id)["locked"] is True
    assert _act(stack, server_id, {"reboot": {"type": "HARD"}}).status_code == 409
    assert _act(stack, server_id, {"os-stop": None}).status_code == 409
    url = f"/compute/v2.1/servers/{server_id}"
    assert stack.client.delete(url, headers=_h(stack)).status_code == 409
    assert _show(stack, server_id)["status"] == "ACTIVE"
    assert _act(stack, server_id, {"os-stop": None}, "admin").status_code == 202
    assert _act(stack, server_id, {"unlock": None}).status_code == 202
    assert _show(stack, server_id)["locked"] is False


def test_an_admins_lock_is_the_admins_to_lift(stack: Stack) -> None:
    server_id = _server(stack)
    assert _act(stack, server_id, {"lock": None}, "admin").status_code == 202
    assert _act(stack, server_id, {"unlock": None}).status_code == 409
    assert _act(stack, server_id, {"lock": None}, "rita").status_code == 403
    assert _act(stack, server_id, {"unlock": None}, "admin").status_code == 202


def test_pause_unpause_suspend_resume_follow_the_domain(stack: Stack) -> None:
    server_id = _server(stack)
    domain = f"nimbus-{server_id}"
    steps = [
        ("pause", "PAUSED", PowerState.PAUSED),
        ("unpause", "ACTIVE", PowerState.RUNNING),
        ("pause", "PAUSED", PowerState.PAUSED),
        ("suspend", "SUSPENDED", PowerState.SUSPENDED),
        ("resume", "ACTIVE", PowerState.RUNNING),
    ]
    for name, status, state in steps:
        assert _act(stack, server_id, {name: None}).status_code == 202, name
        stack.finish(server_workflow_id(server_id, name))
        shown = _show(stack, server_id)
        assert (shown["status"], shown["OS-EXT-STS:task_state"]) == (status, None), name
        assert stack.hypervisor.power_state(domain) is state


def test_pause_and_suspend_in_the_wrong_state_are_409(stack: Stack) -> None:
    server_id = _server(stack)
    for name in ("unpause", "resume"):
        assert _act(stack, server_id, {name: None}).status_code == 409
    assert _act(stack, server_id, {"pause": None}, "rita").status_code == 403
    assert _show(stack, server_id)["status"] == "ACTIVE"


def test_a_failed_pause_leaves_the_server_as_it_was(stack: Stack) -> None:
    server_id = _server(stack)
    stack.hypervisor.fail("pause", InvalidSpec("qemu refused"))
    assert _act(stack, server_id, {"pause": None}).status_code == 202
    stack.finish(server_workflow_id(server_id, "pause"))
    shown = _show(stack, server_id)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("ACTIVE", None)


def test_instance_actions_come_from_the_servers_workflows(stack: Stack) -> None:
    server_id = _server(stack)
    assert _act(stack, server_id, {"reboot": {"type": "HARD"}}).status_code == 202
    stack.finish(server_workflow_id(server_id, "reboot"))
    stack.hypervisor.fail("pause", InvalidSpec("qemu refused"))
    assert _act(stack, server_id, {"pause": None}).status_code == 202
    stack.finish(server_workflow_id(server_id, "pause"))
    url = f"/compute/v2.1/servers/{server_id}/os-instance-actions"
    listed = stack.client.get(url, headers=_h(stack)).json["instanceActions"]
    assert [(a["action"], a["message"]) for a in listed] == [
        ("pause", "Error"),
        ("reboot", None),
        ("create", None),
    ]
    failed = listed[0]["request_id"]
    shown = stack.client.get(f"{url}/{failed}", headers=_h(stack)).json["instanceAction"]
    assert shown["action"] == "pause" and "events" not in shown  # events: admins (< 2.51)
    admin = stack.client.get(f"{url}/{failed}", headers=_h(stack, "admin")).json
    events = admin["instanceAction"]["events"]
    assert [(e["event"], e["result"]) for e in events][0] == ("pause_domain", "Error")
    assert "qemu refused" in events[0]["traceback"]
    assert stack.client.get(f"{url}/req-nope", headers=_h(stack)).status_code == 404
    assert stack.client.get(url, headers=_h(stack, "bob")).status_code == 404


def test_a_deleted_servers_actions_are_readable_from_2_21(stack: Stack) -> None:
    server_id = _server(stack)
    assert (
        stack.client.delete(f"/compute/v2.1/servers/{server_id}", headers=_h(stack)).status_code
        == 204
    )
    stack.finish(server_workflow_id(server_id, "delete"))
    url = f"/compute/v2.1/servers/{server_id}/os-instance-actions"
    assert stack.client.get(url, headers=_h(stack)).status_code == 404  # 2.1: gone
    v221 = {**_h(stack), "OpenStack-API-Version": "compute 2.21"}
    listed = stack.client.get(url, headers=v221).json["instanceActions"]
    assert [a["action"] for a in listed] == ["delete", "create"]
    bob = {**_h(stack, "bob"), "OpenStack-API-Version": "compute 2.21"}
    assert stack.client.get(url, headers=bob).status_code == 404
