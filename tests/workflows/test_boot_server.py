"""BootServer and DeleteServer on a real Temporal server over the fake drivers."""

from __future__ import annotations

import pytest

from activities.storage.block import root_disk_ref
from nimbus.db import Server
from nimbus.errors import BackendUnavailable, InvalidSpec
from tests.support.faults import FailAfter
from tests.support.stack import Stack
from workflows.common import server_workflow_id

BOOT_STEPS = ["place_bind_and_plan", "create_root_disk", "launch_domain", "mark_active"]


def _create(stack: Stack, name: str = "vm1") -> str:
    token = stack.token("alice")
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": stack.image_id()}}
    response = stack.client.post(
        "/compute/v2.1/servers", json=body, headers={"X-Auth-Token": token}
    )
    assert response.status_code == 202, response.json
    return str(response.json["server"]["id"])


def _left_behind(stack: Stack, server_id: str) -> list[str]:
    """Every trace of the server on the host: domain and disk."""
    traces = []
    if f"nimbus-{server_id}" in stack.hypervisor.domains:
        traces.append("domain")
    if stack.store.exists(root_disk_ref(server_id)):
        traces.append("disk")
    return traces


def _booted(stack: Stack, server_id: str) -> Server:
    """The server's row once its BootServer workflow has closed."""
    stack.finish(server_workflow_id(server_id, "boot"))
    row = stack.server(server_id)
    assert row is not None
    return row


def test_boot_makes_disk_domain_and_active_server(stack: Stack) -> None:
    server_id = _create(stack)
    row = _booted(stack, server_id)
    assert row.status == "ACTIVE" and row.power_state == 1
    assert row.host == "testhost" and row.launched_at is not None
    assert _left_behind(stack, server_id) == ["domain", "disk"]


@pytest.mark.parametrize("step", BOOT_STEPS)
def test_failure_after_each_boot_step_leaves_nothing(stack: Stack, step: str) -> None:
    fault = FailAfter(step)
    stack.restart_worker([fault])
    server_id = _create(stack)
    row = _booted(stack, server_id)
    assert fault.fired.is_set()
    assert row.status == "ERROR"
    assert row.fault and "injected failure" in row.fault["message"]
    assert _left_behind(stack, server_id) == []


def test_backend_hiccup_is_retried_and_boot_succeeds(stack: Stack) -> None:
    stack.hypervisor.fail("define_and_start", BackendUnavailable("libvirtd restarting"), times=2)
    server_id = _create(stack)
    assert _booted(stack, server_id).status == "ACTIVE"


def test_permanent_driver_error_is_not_retried_and_compensated(stack: Stack) -> None:
    stack.hypervisor.fail("define_and_start", InvalidSpec("bad domain spec"), times=1)
    server_id = _create(stack)
    row = _booted(stack, server_id)
    assert row.status == "ERROR" and row.fault and "bad domain spec" in row.fault["message"]
    assert _left_behind(stack, server_id) == []


def test_delete_removes_domain_disk_and_row(stack: Stack) -> None:
    server_id = _create(stack)
    _booted(stack, server_id)
    response = stack.client.delete(
        f"/compute/v2.1/servers/{server_id}", headers={"X-Auth-Token": stack.token("alice")}
    )
    assert response.status_code == 204
    row = stack.wait_server(server_id, lambda r: r is not None and r.deleted_at is not None)
    assert row is not None and row.status == "DELETED"
    assert _left_behind(stack, server_id) == []


def test_delete_during_boot_cancels_it_and_leaves_nothing(stack: Stack) -> None:
    server_id = _create(stack)
    response = stack.client.delete(
        f"/compute/v2.1/servers/{server_id}", headers={"X-Auth-Token": stack.token("alice")}
    )
    assert response.status_code == 204
    row = stack.wait_server(server_id, lambda r: r is not None and r.deleted_at is not None)
    assert row is not None and row.status == "DELETED"
    assert _left_behind(stack, server_id) == []


def test_guest_powering_itself_off_shows_shutoff(stack: Stack) -> None:
    server_id = _create(stack)
    _booted(stack, server_id)
    stack.hypervisor.power_off(f"nimbus-{server_id}")
    row = stack.wait_server(server_id, lambda r: r is not None and r.status == "SHUTOFF")
    assert row is not None and row.power_state == 4
