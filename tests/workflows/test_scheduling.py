"""Placement over several hosts, each a worker of its own over fake drivers, on a real
Temporal server: concurrent boots never overcommit a host, and a boot that fits nowhere
ends in ERROR with Nova's fault and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from activities.hypervisor.fake import FakeHypervisor
from nimbus.db import Host, Server
from nimbus.scheduler import NO_VALID_HOST
from tests.support.hosts import more_hosts
from tests.support.neutron import Neutron
from tests.support.stack import Stack
from workflows.common import server_workflow_id

HOSTS = ("testhost", "testhost-b", "testhost-c")
#: Each host takes three one-vCPU servers, whatever this machine's CPU count.
PER_HOST = 3


@pytest.fixture
def hosts(stack: Stack) -> Iterator[dict[str, FakeHypervisor]]:
    """Three hosts (the stack's and two more), each placing ``PER_HOST`` vCPUs; their
    fake hypervisors by name."""
    with more_hosts(stack, HOSTS[1:], PER_HOST) as extra:
        yield extra.hypervisors


def _raise_quota(stack: Stack, token: str) -> None:
    project = stack.token_info(token)["project"]["id"]
    body = {"quota_set": {"instances": 50, "cores": 50, "ram": 1 << 20}}
    response = stack.client.put(
        f"/compute/v2.1/os-quota-sets/{project}",
        json=body,
        headers={"X-Auth-Token": stack.token("admin")},
    )
    assert response.status_code == 200, response.json


def _create(stack: Stack, token: str, name: str) -> str:
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": stack.image_id()}}
    response = stack.client.post(
        "/compute/v2.1/servers", json=body, headers={"X-Auth-Token": token}
    )
    assert response.status_code == 202, response.json
    return str(response.json["server"]["id"])


def test_twenty_concurrent_boots_over_three_hosts_never_overcommit_one(
    stack: Stack, hosts: dict[str, FakeHypervisor]
) -> None:
    token = stack.token("alice")
    _raise_quota(stack, token)
    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(lambda i: _create(stack, token, f"vm{i}"), range(20)))
    for server_id in ids:
        stack.finish(server_workflow_id(server_id, "boot"), timeout=120)
    with stack.db.session() as s:
        rows = s.scalars(select(Server).where(Server.id.in_(ids))).all()
        active = [r for r in rows if r.status == "ACTIVE"]
        failed = [r for r in rows if r.status == "ERROR"]
        per_host = {name: sum(1 for r in active if r.host == name) for name in HOSTS}
        assert per_host == dict.fromkeys(HOSTS, PER_HOST)
        assert len(failed) == 20 - len(HOSTS) * PER_HOST
        assert all(r.fault and r.fault["message"] == NO_VALID_HOST for r in failed)
        assert all(r.availability_zone == "nova" for r in active)
    for name, hypervisor in hosts.items():
        on_it = {d for d in hypervisor.domains if d.startswith("nimbus-")}
        assert on_it == {f"nimbus-{r.id}" for r in active if r.host == name}


def test_the_decision_is_in_the_boots_history(
    stack: Stack, hosts: dict[str, FakeHypervisor]
) -> None:
    token = stack.token("alice")
    server_id = _create(stack, token, "vm")
    stack.finish(server_workflow_id(server_id, "boot"))
    history = stack.history(server_workflow_id(server_id, "boot"))
    assert "chose testhost of 3 fitting; refused none" in history


def test_a_boot_no_host_takes_leaves_no_port_behind(
    stack: Stack, hosts: dict[str, FakeHypervisor]
) -> None:
    """Its own port is deleted and a port the user brought is handed back unbound, as
    Nova deallocates a failed build's network."""
    alice = Neutron(stack, "alice")
    network = alice.network("n1")
    alice.subnet(network["id"])
    mine = alice.port(network["id"])
    token = stack.token("alice")
    body = {
        "server": {
            "name": "huge",
            "flavorRef": "1",
            "imageRef": stack.image_id(),
            "networks": [{"uuid": network["id"]}, {"port": mine["id"]}],
        }
    }
    with stack.db.session() as s:  # every host known dead: nowhere to go
        s.execute(update(Host).values(forced_down=True))
    response = stack.client.post(
        "/compute/v2.1/servers", json=body, headers={"X-Auth-Token": token}
    )
    assert response.status_code == 202, response.json
    server_id = str(response.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    row = stack.server(server_id)
    assert row is not None and row.status == "ERROR" and NO_VALID_HOST in str(row.fault)
    assert alice.get("ports", device_id=server_id).json["ports"] == []
    kept = alice.get(f"ports/{mine['id']}").json["port"]
    assert (kept["device_id"], kept["binding:host_id"]) == ("", "")
