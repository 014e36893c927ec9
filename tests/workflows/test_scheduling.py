"""Placement over several hosts, each a worker of its own over fake drivers, on a real
Temporal server: concurrent boots never overcommit a host, and a boot that fits nowhere
ends in ERROR with Nova's fault and leaves nothing behind."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import select

from activities.hypervisor.fake import FakeHypervisor
from activities.network.fake import FakeNetworkDriver
from launcher.drivers import HostDrivers
from nimbus.db import Host, Server
from nimbus.scheduler import NO_VALID_HOST
from tests.conftest import FAKE_CEPH
from tests.support.stack import Stack, WorkerThread
from workflows.common import server_workflow_id

HOSTS = ("testhost", "testhost-b", "testhost-c")
#: Each host takes three one-vCPU servers, whatever this machine's CPU count.
PER_HOST = 3


@pytest.fixture
def hosts(stack: Stack) -> Iterator[dict[str, FakeHypervisor]]:
    """Three hosts (the stack's and two more), each placing ``PER_HOST`` vCPUs; their
    fake hypervisors by name."""
    ratio = PER_HOST / (os.cpu_count() or 1)
    stack.settings = replace(stack.settings, cpu_allocation_ratio=ratio)
    stack.restart_worker()
    hypervisors = {HOSTS[0]: stack.hypervisor}
    workers = []
    for name in HOSTS[1:]:
        hypervisors[name] = FakeHypervisor(ceph=FAKE_CEPH)
        drivers = HostDrivers(
            hypervisors[name], stack.drivers.store, FakeNetworkDriver(), stack.drivers.object_store
        )
        workers.append(WorkerThread(replace(stack.settings, host_name=name), drivers).start())
    deadline = time.monotonic() + 30
    while not _registered(stack, ratio):
        assert time.monotonic() < deadline, "the hosts never registered"
        time.sleep(0.05)
    yield hypervisors
    for worker in workers:
        worker.stop()


def _registered(stack: Stack, ratio: float) -> bool:
    with stack.db.session() as s:
        rows = s.scalars(select(Host).where(Host.name.in_(HOSTS))).all()
        return len(rows) == len(HOSTS) and all(h.cpu_allocation_ratio == ratio for h in rows)


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
