"""Nova's os-interface attach and detach, over the fake drivers: a port or a network plugged
into a running or stopped server and out again, and the requests that change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from api import create_app
from api.bridge import TemporalBridge
from nimbus.db import Server
from nimbus.db_network import IPAllocation, Port
from nimbus.errors import Conflict
from tests.support.interfaces import Nova
from tests.support.neutron import Neutron, count
from tests.support.stack import Stack
from tests.support.temporal_server import free_port
from workflows.common import server_workflow_id


@pytest.fixture
def neutron(stack: Stack) -> Neutron:
    return Neutron(stack, "alice")


@pytest.fixture
def net(neutron: Neutron) -> dict[str, Any]:
    network = neutron.network("net")
    neutron.subnet(network["id"], "10.0.0.0/24")
    return network


@pytest.fixture
def nova(stack: Stack, net: dict[str, Any]) -> Nova:
    return Nova(stack, net)


def test_a_users_port_is_plugged_in_and_handed_back_unbound(
    stack: Stack, neutron: Neutron, net: dict[str, Any], nova: Nova
) -> None:
    port = neutron.port(net["id"])
    r = nova.attach(port_id=port["id"])
    assert r.status_code == 200, r.json
    view = r.json["interfaceAttachment"]
    assert view["port_id"] == port["id"] and view["port_state"] == "ACTIVE"
    assert view["mac_addr"] == port["mac_address"] and view["net_id"] == net["id"]
    shown = stack.client.get(f"{nova.url}/{port['id']}", headers=nova.h).json
    assert shown == {"interfaceAttachment": view}
    bound = neutron.get(f"ports/{port['id']}").json["port"]
    assert bound["device_id"] == nova.server_id and bound["binding:host_id"] == "testhost"
    assert port["mac_address"] in nova.macs()
    assert port["id"] in stack.drivers.network.filters
    leases = stack.drivers.network.dhcp[net["id"]].leases
    assert port["mac_address"] in [lease.mac for lease in leases]

    assert nova.detach(port["id"]).status_code == 202
    kept = neutron.get(f"ports/{port['id']}").json["port"]
    assert (kept["device_id"], kept["status"], kept["binding:host_id"]) == ("", "DOWN", "")
    assert port["mac_address"] not in nova.macs()
    assert port["id"] not in stack.drivers.network.filters


def test_a_network_gets_a_new_port_deleted_again_on_detach(
    stack: Stack, neutron: Neutron, net: dict[str, Any], nova: Nova
) -> None:
    r = nova.attach(net_id=net["id"], fixed_ips=[{"ip_address": "10.0.0.77"}])
    assert r.status_code == 200, r.json
    view = r.json["interfaceAttachment"]
    assert view["fixed_ips"][0]["ip_address"] == "10.0.0.77"
    listed = stack.client.get(nova.url, headers=nova.h).json["interfaceAttachments"]
    assert len(listed) == 2 and len(nova.macs()) == 2
    assert nova.detach(view["port_id"]).status_code == 202
    assert neutron.get(f"ports/{view['port_id']}").status_code == 404
    assert len(nova.macs()) == 1
    assert view["mac_addr"] not in [x.mac for x in stack.drivers.network.dhcp[net["id"]].leases]


def test_a_stopped_server_takes_the_nic_into_its_definition(
    stack: Stack, net: dict[str, Any], nova: Nova
) -> None:
    nova.action({"os-stop": None}, "SHUTOFF")
    r = nova.attach(net_id=net["id"])
    assert r.status_code == 200, r.json
    assert r.json["interfaceAttachment"]["mac_addr"] in nova.macs()
    assert stack.server(nova.server_id).status == "SHUTOFF"  # not started by the attach
    assert nova.detach(r.json["interfaceAttachment"]["port_id"]).status_code == 202
    assert len(nova.macs()) == 1


def test_a_failed_plug_releases_the_port(
    stack: Stack, neutron: Neutron, net: dict[str, Any], nova: Nova
) -> None:
    before = count(stack, Port, IPAllocation)
    stack.hypervisor.fail("attach_interface", Conflict("qemu refused the device"))
    r = nova.attach(net_id=net["id"])
    assert r.status_code == 409 and "qemu refused" in r.json["conflictingRequest"]["message"]
    assert count(stack, Port, IPAllocation) == before
    assert len(nova.macs()) == 1
    assert len(stack.drivers.network.filters) == 1


def test_bad_requests_are_refused_and_change_nothing(
    stack: Stack, neutron: Neutron, net: dict[str, Any], nova: Nova
) -> None:
    admin = Neutron(stack, "admin")
    bobs_project = Neutron(stack, "bob").project_id
    foreign = admin.port(net["id"], project_id=bobs_project)
    mine = neutron.port(net["id"])
    router_port = neutron.port(net["id"], device_id="elsewhere", device_owner="compute:nova")
    before = count(stack, Port, IPAllocation)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"port_id": mine["id"], "net_id": net["id"]}, 400, "alice"),
        ({"fixed_ips": [{"ip_address": "10.0.0.9"}]}, 400, "alice"),
        ({"net_id": net["id"], "fixed_ips": [{"ip_address": "nope"}]}, 400, "alice"),
        ({"net_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.9"}] * 2}, 400, "alice"),
        ({"port_id": mine["id"], "tag": "x"}, 400, "alice"),
        ({"port_id": "no-such-port"}, 404, "alice"),
        ({"net_id": "no-such-network"}, 404, "alice"),
        ({"port_id": router_port["id"]}, 409, "alice"),
        ({"port_id": foreign["id"]}, 403, "alice"),
        ({"port_id": mine["id"]}, 403, "rita"),  # a reader
        ({"port_id": mine["id"]}, 404, "bob"),  # another project's server
    ]
    for spec, status, user in cases:
        r = nova.attach(user, **spec)
        assert r.status_code == status, (spec, user, r.json)
    r = stack.client.post(nova.url, json={"interfaceAttachment": [], "x": 1}, headers=nova.h)
    assert r.status_code == 400
    missing = "/compute/v2.1/servers/no-such-server/os-interface"
    body = {"interfaceAttachment": {"port_id": mine["id"]}}
    assert stack.client.post(missing, json=body, headers=nova.h).status_code == 404
    assert nova.detach(mine["id"]).status_code == 404  # not the server's
    assert nova.detach("no-such-port").status_code == 404
    (own,) = [p for p in neutron.get("ports", device_id=nova.server_id).json["ports"]]
    assert nova.detach(own["id"], user="rita").status_code == 403
    assert nova.detach(own["id"], user="bob").status_code == 404
    assert count(stack, Port, IPAllocation) == before
    assert len(nova.macs()) == 1


@pytest.mark.parametrize("status,task", [("ERROR", None), ("ACTIVE", "rebooting")])
def test_a_server_busy_or_broken_is_a_conflict(
    stack: Stack, neutron: Neutron, net: dict[str, Any], nova: Nova, status: str, task: Any
) -> None:
    mine = neutron.port(net["id"])
    (own,) = neutron.get("ports", device_id=nova.server_id).json["ports"]
    with stack.db.session() as s:
        s.execute(
            update(Server).where(Server.id == nova.server_id).values(status=status, task_state=task)
        )
    assert nova.attach(port_id=mine["id"]).status_code == 409
    assert nova.detach(own["id"]).status_code == 409
    assert neutron.get(f"ports/{mine['id']}").json["port"]["device_id"] == ""
    assert len(nova.macs()) == 1


def test_a_locked_server_refuses_interfaces(
    stack: Stack, neutron: Neutron, net: dict[str, Any], nova: Nova
) -> None:
    mine = neutron.port(net["id"])
    url = f"/compute/v2.1/servers/{nova.server_id}/action"
    assert stack.client.post(url, json={"lock": None}, headers=nova.h).status_code == 202
    assert nova.attach(port_id=mine["id"]).status_code == 409


def test_server_events_name_the_interface_actions(
    stack: Stack, net: dict[str, Any], nova: Nova
) -> None:
    port_id = nova.attach(net_id=net["id"]).json["interfaceAttachment"]["port_id"]
    assert nova.detach(port_id).status_code == 202
    url = f"/compute/v2.1/servers/{nova.server_id}/os-instance-actions"
    actions = [a["action"] for a in stack.client.get(url, headers=nova.h).json["instanceActions"]]
    assert actions[:2] == ["detach_interface", "attach_interface"], actions


def test_a_port_still_being_attached_cannot_be_detached(
    stack: Stack, neutron: Neutron, nova: Nova
) -> None:
    (own,) = neutron.get("ports", device_id=nova.server_id).json["ports"]
    with stack.db.session() as s:
        s.execute(update(Port).where(Port.id == own["id"]).values(status="BUILD"))
    assert nova.detach(own["id"]).status_code == 409
    assert len(nova.macs()) == 1


def test_with_the_engine_down_an_attach_answers_503_and_changes_nothing(
    stack: Stack, neutron: Neutron, net: dict[str, Any], nova: Nova
) -> None:
    mine = neutron.port(net["id"])
    before = count(stack, Port, IPAllocation)
    dead = TemporalBridge(f"127.0.0.1:{free_port()}", "default", timeout=10)
    client = create_app(stack.settings, stack.db, dead, block_store=stack.store).test_client()
    try:
        for spec in ({"port_id": mine["id"]}, {"net_id": net["id"]}):
            body = {"interfaceAttachment": spec}
            assert client.post(nova.url, json=body, headers=nova.h).status_code == 503
    finally:
        dead.close()
    assert count(stack, Port, IPAllocation) == before
    assert neutron.get(f"ports/{mine['id']}").json["port"]["device_id"] == ""


def test_an_attached_interface_stays_through_a_rebuild(
    stack: Stack, net: dict[str, Any], nova: Nova
) -> None:
    mac = nova.attach(net_id=net["id"]).json["interfaceAttachment"]["mac_addr"]
    nova.action({"rebuild": {"imageRef": stack.image_id()}}, "ACTIVE")
    stack.finish(server_workflow_id(nova.server_id, "rebuild"))
    assert nova.macs()[1] == mac


def test_no_port_nor_network_takes_the_projects_only_network(
    stack: Stack, net: dict[str, Any], nova: Nova
) -> None:
    r = nova.attach()
    assert r.status_code == 200, r.json
    assert r.json["interfaceAttachment"]["net_id"] == net["id"]
    assert len(nova.macs()) == 2
