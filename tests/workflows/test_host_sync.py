"""SyncHostNetworks: a host that lost its devices gets them back; devices without rows go."""

from __future__ import annotations

from activities.network.base import NetworkSpec, PortFilter
from nimbus.db_network import Port
from tests.support.stack import Stack
from tests.workflows.test_network_workflows import network, port, subnet
from workflows.hostsync import SyncHostInput, SyncHostNetworks


def _sync(stack: Stack) -> None:
    stack.bridge.run(
        lambda c: c.execute_workflow(
            SyncHostNetworks.run,
            SyncHostInput("testhost"),
            id="host-testhost-network-sync-test",
            task_queue="nimbus-control",
        )
    )


def test_a_rebooted_host_gets_its_bridges_dhcp_and_filters_back(stack: Stack) -> None:
    net = network(stack)
    sub = subnet(stack, net)
    vm = port(stack, net, sub, "10.0.0.5", "compute:nova", "s1", tag=3)
    with stack.db.session() as s:
        s.get(Port, vm).binding_host = "testhost"
    driver = stack.drivers.network
    for lost in (driver.networks, driver.dhcp, driver.filters):  # as after a reboot
        lost.clear()
    _sync(stack)
    assert net in driver.networks and driver.dhcp[net].leases
    assert vm in driver.filters


def test_devices_without_rows_are_removed(stack: Stack) -> None:
    driver = stack.drivers.network
    driver.ensure_network(NetworkSpec("orphan-net", 4000))
    orphan = PortFilter("orphan-port", "orphan-net", 4000, 9, "fa:16:3e:00:00:09", ())
    driver.ensure_port_filter(orphan)
    kept = network(stack)
    _sync(stack)
    assert set(driver.networks) == {kept} and driver.filters == {}
