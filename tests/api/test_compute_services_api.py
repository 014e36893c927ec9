"""Nova's os-services and os-aggregates over the fake drivers: the worker's host is one
nova-compute service; an admin disables it (the scheduler then places nothing there)
and enables it again, by id from 2.53 and by host before; a zone of its own shows as an
aggregate; a hypervisor's uptime is Nova's 501."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from nimbus.scheduler import NO_VALID_HOST
from tests.api.test_server_groups_api import _call, _server
from tests.support.stack import Stack

SERVICES = "/compute/v2.1/os-services"


def _service(stack: Stack, version: str = "2.79") -> dict[str, Any]:
    status, body = _call(stack, "GET", SERVICES, version=version, user="admin")
    assert status == 200, body
    [service] = body["services"]
    return dict(service)


def test_the_host_is_an_enabled_compute_service_that_is_up(stack: Stack) -> None:
    service = _service(stack)
    assert uuid.UUID(service["id"])
    assert {k: service[k] for k in ("binary", "host", "zone", "status", "state")} == {
        "binary": "nova-compute",
        "host": "testhost",
        "zone": "nova",
        "status": "enabled",
        "state": "up",
    }
    assert service["forced_down"] is False and service["disabled_reason"] is None
    assert isinstance(_service(stack, "2.52")["id"], int)
    assert "forced_down" not in _service(stack, "2.10")
    assert _call(stack, "GET", f"{SERVICES}?binary=nova-scheduler", user="admin")[1] == {
        "services": []
    }
    assert _call(stack, "GET", SERVICES, user="alice")[0] == 403


def test_a_disabled_host_takes_no_new_server_until_enabled(stack: Stack) -> None:
    service_id = _service(stack)["id"]
    body = {"status": "disabled", "disabled_reason": "maintenance"}
    status, answer = _call(stack, "PUT", f"{SERVICES}/{service_id}", body, user="admin")
    assert status == 200 and answer["service"]["status"] == "disabled"
    assert answer["service"]["disabled_reason"] == "maintenance"
    status, hypervisors = _call(stack, "GET", "/compute/v2.1/os-hypervisors/detail", user="admin")
    [hypervisor] = hypervisors["hypervisors"]
    assert hypervisor["status"] == "disabled"
    assert hypervisor["service"] == {
        "host": "testhost", "id": service_id, "disabled_reason": "maintenance"
    }  # fmt: skip

    refused = _server(stack, "refused")
    status, shown = _call(stack, "GET", f"/compute/v2.1/servers/{refused}")
    assert shown["server"]["status"] == "ERROR"
    assert shown["server"]["fault"]["message"] == NO_VALID_HOST

    body = {"status": "enabled"}
    status, answer = _call(stack, "PUT", f"{SERVICES}/{service_id}", body, user="admin")
    assert answer["service"]["status"] == "enabled" and answer["service"]["disabled_reason"] is None
    placed = _server(stack, "placed")
    assert _call(stack, "GET", f"/compute/v2.1/servers/{placed}")[1]["server"]["status"] == "ACTIVE"


def test_before_2_53_the_host_is_named_in_the_body(stack: Stack) -> None:
    body = {"host": "testhost", "binary": "nova-compute", "disabled_reason": "disk swap"}
    status, answer = _call(
        stack, "PUT", f"{SERVICES}/disable-log-reason", body, version="2.52", user="admin"
    )
    assert status == 200 and answer["service"] == {**body, "status": "disabled"}
    body = {"host": "testhost", "binary": "nova-compute"}
    status, answer = _call(stack, "PUT", f"{SERVICES}/enable", body, version="2.52", user="admin")
    assert answer["service"]["status"] == "enabled"
    assert _service(stack)["status"] == "enabled"


def test_bad_updates_are_refused_and_change_nothing(stack: Stack) -> None:
    service_id = _service(stack)["id"]
    for body in (
        {"status": "paused"},
        {"status": "enabled", "disabled_reason": "x"},
        {"forced_down": "yes"},
        {"colour": "blue"},
        {},
    ):
        status, _ = _call(stack, "PUT", f"{SERVICES}/{service_id}", body, user="admin")
        assert status == 400, body
    assert _call(stack, "PUT", f"{SERVICES}/{uuid.uuid4()}", {"status": "disabled"},
                 user="admin")[0] == 404  # fmt: skip
    assert _service(stack)["status"] == "enabled"


def test_an_admin_forces_a_host_down_and_up_again(stack: Stack) -> None:
    """The host is down at once, to the scheduler too (a boot finds no valid host),
    whatever its heartbeat, until the admin says otherwise; 2.11's force-down before
    2.53, a field of the service from it."""
    service_id = _service(stack)["id"]
    status, answer = _call(
        stack, "PUT", f"{SERVICES}/{service_id}", {"forced_down": True}, user="admin"
    )
    assert status == 200 and answer["service"]["forced_down"] is True
    assert answer["service"]["state"] == "down"
    server_id = _server(stack, "nowhere")
    row = stack.server(server_id)
    assert row is not None and row.status == "ERROR" and "No valid host" in str(row.fault)
    body = {"host": "testhost", "binary": "nova-compute", "forced_down": False}
    status, answer = _call(
        stack, "PUT", f"{SERVICES}/force-down", body, version="2.11", user="admin"
    )
    assert status == 200 and answer["service"] == body
    assert _service(stack)["state"] == "up" and _service(stack)["forced_down"] is False
    status, _ = _call(stack, "PUT", f"{SERVICES}/force-down", body, version="2.10", user="admin")
    assert status == 404


def test_a_service_hosting_servers_is_not_deleted(stack: Stack) -> None:
    _server(stack, "here")
    service_id = _service(stack)["id"]
    status, body = _call(stack, "DELETE", f"{SERVICES}/{service_id}", user="admin")
    assert status == 409 and "hosting instances" in body["conflictingRequest"]["message"]


def test_a_zone_of_its_own_is_an_aggregate_and_uptime_is_not_implemented(stack: Stack) -> None:
    assert _call(stack, "GET", "/compute/v2.1/os-aggregates", user="admin")[1] == {"aggregates": []}
    stack.settings = replace(stack.settings, availability_zone="rack2")
    stack.restart_worker()  # its heartbeat reports its zone
    status, body = _call(stack, "GET", "/compute/v2.1/os-aggregates", user="admin")
    [aggregate] = body["aggregates"]
    assert (aggregate["name"], aggregate["hosts"]) == ("rack2", ["testhost"])
    assert aggregate["metadata"] == {"availability_zone": "rack2"}
    status, shown = _call(
        stack, "GET", f"/compute/v2.1/os-aggregates/{aggregate['id']}", user="admin"
    )
    assert shown["aggregate"] == aggregate
    status, hypervisors = _call(stack, "GET", "/compute/v2.1/os-hypervisors", user="admin")
    hypervisor_id = hypervisors["hypervisors"][0]["id"]
    status, body = _call(
        stack, "GET", f"/compute/v2.1/os-hypervisors/{hypervisor_id}/uptime", user="admin"
    )
    assert status == 501
