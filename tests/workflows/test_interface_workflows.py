"""AttachInterface and DetachInterface on a real Temporal server over the fake drivers: a
failure after each step of an attach leaves the server as it was and the port released
(deleted if it was made for the server, unbound otherwise), and a detach whose unplug
fails keeps the interface."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.db_network import IPAllocation, Port
from nimbus.errors import Conflict
from tests.support.faults import FailAfter
from tests.support.interfaces import Nova
from tests.support.neutron import Neutron, count
from tests.support.stack import Stack

STEPS = [
    "bind_port",
    "ensure_network",
    "ensure_dhcp",
    "ensure_port_filter",
    "set_group_members",
    "plug_interface",
    "activate_port",
]


@pytest.fixture
def neutron(stack: Stack) -> Neutron:
    return Neutron(stack, "alice")


@pytest.fixture
def nova(stack: Stack, neutron: Neutron) -> Nova:
    network = neutron.network("net")
    neutron.subnet(network["id"], "10.0.0.0/24")
    return Nova(stack, network)


def _unchanged(stack: Stack, nova: Nova, before: Any) -> None:
    assert count(stack, Port, IPAllocation) == before
    assert len(nova.macs()) == 1
    assert len(stack.drivers.network.filters) == 1
    assert len(stack.drivers.network.dhcp[nova.net["id"]].leases) == 1


@pytest.mark.parametrize("step", STEPS)
def test_a_failed_attach_of_a_network_deletes_the_port_it_made(
    stack: Stack, nova: Nova, step: str
) -> None:
    before = count(stack, Port, IPAllocation)
    stack.restart_worker([FailAfter(step)])
    r = nova.attach(net_id=nova.net["id"])
    assert r.status_code >= 400, r.json
    _unchanged(stack, nova, before)


@pytest.mark.parametrize("step", ["bind_port", "plug_interface"])
def test_a_failed_attach_of_a_port_hands_it_back_unbound(
    stack: Stack, neutron: Neutron, nova: Nova, step: str
) -> None:
    port = neutron.port(nova.net["id"])
    before = count(stack, Port, IPAllocation)
    stack.restart_worker([FailAfter(step)])
    assert nova.attach(port_id=port["id"]).status_code >= 400
    after = neutron.get(f"ports/{port['id']}").json["port"]
    assert (after["device_id"], after["binding:host_id"], after["status"]) == ("", "", "DOWN")
    assert count(stack, Port, IPAllocation) == before
    assert len(nova.macs()) == 1 and len(stack.drivers.network.filters) == 1


def test_a_detach_the_guest_refuses_keeps_the_interface(
    stack: Stack, neutron: Neutron, nova: Nova
) -> None:
    view = nova.attach(net_id=nova.net["id"]).json["interfaceAttachment"]
    # Not retried, to keep the test short: a retried error ends the same way, only later.
    stack.hypervisor.fail("detach_interface", Conflict("guest holds on"))
    url = f"{nova.url}/{view['port_id']}"
    assert stack.client.delete(url, headers=nova.h).status_code == 202
    failed = stack.finish(f"server-{nova.server_id}-detach-interface-{view['port_id']}")
    assert "guest holds on" in str(getattr(failed, "cause", failed))
    assert neutron.get(f"ports/{view['port_id']}").json["port"]["status"] == "ACTIVE"
    assert len(nova.macs()) == 2
