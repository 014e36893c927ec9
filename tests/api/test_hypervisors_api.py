"""Nova's os-hypervisors over the fake drivers: the worker's host is the one hypervisor,
with its vCPUs and memory, and what the servers placed on it take; ids by microversion,
paging, filters; admins only, and bad queries refused."""

from __future__ import annotations

import uuid

from nimbus.db import Host
from tests.api.test_dashboard_app import boot
from tests.support.stack import Stack

PATH = "/compute/v2.1/os-hypervisors"


def _get(stack: Stack, url: str, version: str = "2.79", user: str = "admin") -> tuple[int, dict]:
    headers = {"X-Auth-Token": stack.token(user), "OpenStack-API-Version": f"compute {version}"}
    response = stack.client.get(url, headers=headers)
    return response.status_code, dict(response.json or {})


def _host(stack: Stack) -> Host:
    with stack.db.session() as s:
        return s.query(Host).one()


def test_the_host_is_a_hypervisor_with_what_its_servers_take(stack: Stack) -> None:
    host = _host(stack)
    status, body = _get(stack, f"{PATH}/detail")
    assert status == 200
    [found] = body["hypervisors"]
    assert uuid.UUID(found["id"]) and found["hypervisor_hostname"] == host.name
    assert (found["state"], found["status"]) == ("up", "enabled")
    assert (found["vcpus"], found["memory_mb"]) == (host.vcpus, host.memory_mib)
    assert (found["vcpus_used"], found["memory_mb_used"], found["running_vms"]) == (0, 0, 0)

    boot(stack, "one")  # flavor 1: 1 vCPU, 512 MiB
    status, body = _get(stack, f"{PATH}/detail?with_servers=true")
    [found] = body["hypervisors"]
    assert (found["vcpus_used"], found["memory_mb_used"], found["running_vms"]) == (1, 512, 1)
    assert found["free_ram_mb"] == host.memory_mib - 512
    assert [s["name"] for s in found["servers"]] == ["one"]
    shown = _get(stack, f"{PATH}/{found['id']}")[1]["hypervisor"]
    assert shown["vcpus_used"] == 1 and shown["service"]["host"] == host.name


def test_ids_paging_and_filters_follow_the_microversion(stack: Stack) -> None:
    host = _host(stack)
    status, body = _get(stack, PATH, version="2.1")
    assert status == 200 and isinstance(body["hypervisors"][0]["id"], int)
    assert "vcpus" not in body["hypervisors"][0]  # the list is short; detail has the rest
    old = body["hypervisors"][0]["id"]
    assert _get(stack, f"{PATH}/{old}", version="2.1")[0] == 200
    status, body = _get(stack, f"{PATH}?limit=1")
    assert status == 200 and "marker=" in body["hypervisors_links"][0]["href"]
    last = body["hypervisors"][0]["id"]
    assert _get(stack, f"{PATH}?limit=1&marker={last}")[1]["hypervisors"] == []
    assert _get(stack, f"{PATH}?hypervisor_hostname_pattern={host.name[:3]}")[0] == 200
    assert _get(stack, f"{PATH}?hypervisor_hostname_pattern=no-such-host")[0] == 404
    assert _get(stack, f"{PATH}/{uuid.uuid4()}")[0] == 404


def test_bad_queries_are_refused(stack: Stack) -> None:
    assert _get(stack, f"{PATH}?limit=many")[0] == 400
    assert _get(stack, f"{PATH}?marker=nope")[0] == 400
    assert _get(stack, f"{PATH}/detail?sort=name")[0] == 400


def test_only_admins_see_hypervisors(stack: Stack) -> None:
    for user in ("alice", "rita"):
        assert _get(stack, PATH, user=user)[0] == 403
        assert _get(stack, f"{PATH}/detail", user=user)[0] == 403
