"""SIGKILL the worker in the middle of a network create, a port plug and a floating IP
association, on the real network driver: once a worker is back, each operation ends, and
every device has its row and every row its devices.

The worker runs in its own process (``tests.support.worker_proc``) and hangs right after
the named step's side effect, so the kill lands exactly there.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from activities.network.base import bridge_name, dhcp_namespace, router_namespace
from activities.objectstore.fake import FakeObjectStoreAdmin
from launcher import bootstrap
from launcher.drivers import real_network
from launcher.netbootstrap import stage_public_network
from launcher.services.netpurge import purge_network
from nimbus.config import Settings
from nimbus.db_network import FloatingIP, Network, Port
from tests.support.cloud import wait_for
from tests.support.stack import Stack, make_stack
from tests.support.worker_proc import WorkerProcess
from workflows import net_starter

pytestmark = pytest.mark.network

NET = "/networking/v2.0"


@pytest.fixture
def real_net_settings(settings: Settings) -> Settings:
    """Settings with their own nftables table and external range on this host."""
    tag = uuid.uuid4().hex[:6]
    return replace(
        settings,
        nft_table=f"nimbusc{tag}",
        external_cidr=f"100.65.{int(tag[:2], 16) % 200 + 20}.0/24",
    )


@pytest.fixture
def crash_stack(real_net_settings: Settings, image_file: Path) -> Iterator[Stack]:
    """A control plane whose only worker is a process of its own (none in this one)."""
    from activities.hypervisor.fake import FakeHypervisor
    from activities.storage.fake_block import FakeBlockStore
    from launcher.drivers import HostDrivers
    from tests.conftest import FAKE_CEPH

    drivers = HostDrivers(
        FakeHypervisor(ceph=FAKE_CEPH),
        FakeBlockStore(),
        real_network(real_net_settings),
        FakeObjectStoreAdmin(),
    )
    stack = make_stack(real_net_settings, drivers, image_file)
    stack.stop_worker()
    try:
        yield stack
    finally:
        purge_network(real_net_settings)
        stack.bridge.close()


class Worker:
    """The stack's worker processes: one at a time."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.proc: WorkerProcess | None = None

    def start(self, pause_after: str = "", workflow: str = "") -> WorkerProcess:
        self.stop()
        self.proc = WorkerProcess(self.stack.settings, self.stack_image(), pause_after, workflow)
        return self.proc

    def stack_image(self) -> str:
        from nimbus.db import Image

        with self.stack.db.session() as s:
            return str(s.get(Image, self.stack.image_id()).location)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


@pytest.fixture
def worker(crash_stack: Stack) -> Iterator[Worker]:
    w = Worker(crash_stack)
    try:
        yield w
    finally:
        w.stop()


def _in_background(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


def _api(client: FlaskClient, token: str) -> Callable[..., Any]:
    def call(method: str, path: str, body: Any = None) -> Any:
        return client.open(path, method=method, json=body, headers={"X-Auth-Token": token})

    return call


def _status(stack: Stack, model: Any, row_id: str) -> str | None:
    with stack.db.session() as s:
        row = s.get(model, row_id)
        return None if row is None else str(row.status)


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _consistent(stack: Stack) -> None:
    """Rows and devices agree: every network row ACTIVE with a bridge, every bridge of
    this driver with a row; every DHCP server and router with its row."""
    with stack.db.session() as s:
        networks = {n.id: n.status for n in s.query(Network)}
    state = stack.drivers.network.state()
    assert set(networks.values()) <= {"ACTIVE"}, networks
    assert state.networks == set(networks)
    links, namespaces = _links(), _namespaces()
    for network_id in networks:
        assert bridge_name(network_id) in links
    for network_id in state.dhcp:
        assert network_id in networks and dhcp_namespace(network_id) in namespaces


def _create_network(stack: Stack, api: Callable[..., Any]) -> str:
    net = api("POST", f"{NET}/networks", {"network": {"name": "n1"}})
    assert net.status_code == 201, net.json
    sub = api(
        "POST",
        f"{NET}/subnets",
        {
            "subnet": {
                "network_id": net.json["network"]["id"],
                "cidr": "10.9.0.0/24",
                "ip_version": 4,
            }
        },
    )
    assert sub.status_code == 201, sub.json
    return str(net.json["network"]["id"])


def test_worker_killed_during_network_create(crash_stack: Stack, worker: Worker) -> None:
    api = _api(crash_stack.client, crash_stack.token("alice"))
    paused = worker.start("ensure_network", "network-")
    thread, result = _in_background(
        lambda: api("POST", f"{NET}/networks", {"network": {"name": "x"}})
    )
    paused.wait_paused()
    paused.kill()
    with crash_stack.db.session() as s:
        (row,) = s.query(Network).all()
        assert row.status == "BUILD"  # cut short after the bridge, before ACTIVE
    assert bridge_name(row.id) in _links()
    worker.start()
    thread.join(120)
    assert result and result[0].status_code == 201, result
    wait_for(lambda: _status(crash_stack, Network, row.id) == "ACTIVE", 120, "network ACTIVE")
    _consistent(crash_stack)
    assert api("DELETE", f"{NET}/networks/{row.id}").status_code == 204
    assert bridge_name(row.id) not in _links()


def test_worker_killed_during_port_plug(crash_stack: Stack, worker: Worker) -> None:
    worker.start()
    api = _api(crash_stack.client, crash_stack.token("alice"))
    network_id = _create_network(crash_stack, api)
    worker.start("plug_host", "server-")  # bridge, filter and lease: one step
    body = {
        "server": {
            "name": "vm",
            "flavorRef": "1",
            "imageRef": crash_stack.image_id(),
            "networks": [{"uuid": network_id}],
        }
    }
    created = api("POST", "/compute/v2.1/servers", body)
    assert created.status_code == 202, created.json
    server_id = created.json["server"]["id"]
    worker.proc.wait_paused()  # type: ignore[union-attr]
    worker.proc.kill()  # type: ignore[union-attr]
    worker.start()
    crash_stack.finish(f"server-{server_id}-boot", timeout=180)
    with crash_stack.db.session() as s:
        (port,) = s.query(Port).filter(Port.device_id == server_id).all()
        assert port.status == "ACTIVE" and port.binding_host == "testhost"
    assert port.id in crash_stack.drivers.network.state().port_filters
    _consistent(crash_stack)
    assert api("DELETE", f"/compute/v2.1/servers/{server_id}").status_code == 204
    crash_stack.finish(f"server-{server_id}-delete", timeout=120)
    assert port.id not in crash_stack.drivers.network.state().port_filters


def test_worker_killed_during_floating_ip_association(crash_stack: Stack, worker: Worker) -> None:
    worker.start()
    admin = _api(crash_stack.client, crash_stack.token("admin"))
    owner = bootstrap.admin_project_id(crash_stack.db)
    public = stage_public_network(crash_stack.db, crash_stack.settings, owner)
    crash_stack.bridge.run(lambda c: net_starter.create_network(c, owner, public.network_id))
    crash_stack.bridge.run(lambda c: net_starter.create_subnet(c, owner, public.subnet_id))
    network_id = _create_network(crash_stack, admin)
    subnet_id = admin("GET", f"{NET}/networks/{network_id}").json["network"]["subnets"][0]
    router = admin(
        "POST",
        f"{NET}/routers",
        {"router": {"name": "r", "external_gateway_info": {"network_id": public.network_id}}},
    ).json["router"]
    assert (
        admin(
            "PUT", f"{NET}/routers/{router['id']}/add_router_interface", {"subnet_id": subnet_id}
        ).status_code
        == 200
    )
    port = admin("POST", f"{NET}/ports", {"port": {"network_id": network_id}}).json["port"]
    fip = admin(
        "POST", f"{NET}/floatingips", {"floatingip": {"floating_network_id": public.network_id}}
    ).json["floatingip"]

    worker.start("ensure_router", "floatingip-")
    thread, result = _in_background(
        lambda: admin(
            "PUT", f"{NET}/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}}
        )
    )
    worker.proc.wait_paused()  # type: ignore[union-attr]
    worker.proc.kill()  # type: ignore[union-attr]
    worker.start()
    thread.join(120)
    assert result and result[0].status_code == 200, result
    wait_for(lambda: _status(crash_stack, FloatingIP, fip["id"]) == "ACTIVE", 120, "fip ACTIVE")
    with crash_stack.db.session() as s:
        row = s.get(FloatingIP, fip["id"])
        assert row is not None and row.router_id == router["id"]
    nat = subprocess.run(
        ["ip", "netns", "exec", router_namespace(router["id"]), "nft", "list", "ruleset"],
        capture_output=True,
        text=True,
    ).stdout
    assert fip["floating_ip_address"] in nat
    _consistent(crash_stack)
