"""SyncHostNetworks: a host that lost its devices gets them back; devices without rows go."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete

from activities.network.base import NetworkSpec, PortFilter
from nimbus.db_network import IPAllocation, Network, Port, Router, Subnet
from tests.support.stack import Stack
from tests.workflows.test_network_workflows import (
    PROJECT,
    _router_with_gateway,
    network,
    port,
    subnet,
)
from workflows import net_starter
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


def _meanwhile(
    monkeypatch: pytest.MonkeyPatch, driver: Any, method: str, key: str, do: Callable[[], None]
) -> None:
    """Run ``do`` once, just before the driver's ``method`` applies the object ``key``: what
    another workflow did between the sync reading the object's row and its step."""
    real = getattr(driver, method)

    def hooked(spec: Any) -> None:
        if (
            key
            in (
                getattr(spec, "network_id", None),
                getattr(spec, "router_id", None),
                getattr(spec, "port_id", None),
            )
            and key not in done
        ):
            done.add(key)
            do()
        real(spec)

    done: set[str] = set()
    monkeypatch.setattr(driver, method, hooked)


def test_what_was_deleted_while_the_sync_rebuilt_it_is_removed_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delete that ran between the sync's read of a row and its step on the host (its
    devices removed first, the stale step rebuilding them after) leaves no device."""
    ext, _, router_net, router = _router_with_gateway(stack)
    doomed, kept = network(stack), network(stack)
    subnet(stack, doomed)
    kept_sub = subnet(stack, kept, "10.0.1.0/24")
    vm = port(stack, kept, kept_sub, "10.0.1.5", "compute:nova", "s1", tag=3)
    with stack.db.session() as s:
        s.get(Port, vm).binding_host = "testhost"
    driver = stack.drivers.network
    for lost in (driver.networks, driver.dhcp, driver.routers, driver.filters):
        lost.clear()

    def delete_network() -> None:  # DeleteNetwork: marked, then its devices removed
        with stack.db.session() as s:
            s.get(Network, doomed).status = "DELETING"
        driver.delete_dhcp(doomed)
        driver.delete_network(doomed)

    def delete_router() -> None:
        with stack.db.session() as s:
            s.get(Router, router).status = "DELETING"
        driver.delete_router(router)

    def move_port() -> None:  # a migration: bound to the other host, unfiltered here
        with stack.db.session() as s:
            s.get(Port, vm).binding_host = "otherhost"
        driver.remove_port_filter(vm)

    _meanwhile(monkeypatch, driver, "ensure_network", doomed, delete_network)
    _meanwhile(monkeypatch, driver, "ensure_router", router, delete_router)
    _meanwhile(monkeypatch, driver, "ensure_port_filter", vm, move_port)
    _sync(stack)
    assert doomed not in driver.networks and doomed not in driver.dhcp
    assert router not in driver.routers and vm not in driver.filters
    assert {ext, router_net, kept} <= set(driver.networks) and kept in driver.dhcp


def test_an_object_deleted_before_its_step_is_skipped(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network whose rows went between the host's plan and its own step fails nothing:
    the sync goes on with the next object, and builds nothing for it."""
    first, second = sorted((network(stack), network(stack)))  # converged in this order
    subnet(stack, first)
    subnet(stack, second, "10.0.1.0/24")
    driver = stack.drivers.network
    for lost in (driver.networks, driver.dhcp):
        lost.clear()

    def delete_rows() -> None:  # DeleteNetwork's last step, for the network after
        with stack.db.session() as s:
            for model in (IPAllocation, Port, Subnet):
                s.execute(delete(model).where(model.network_id == second))
            s.execute(delete(Network).where(Network.id == second))

    _meanwhile(monkeypatch, driver, "ensure_network", first, delete_rows)
    _sync(stack)
    assert first in driver.networks and first in driver.dhcp
    assert second not in driver.networks and second not in driver.dhcp


def _rebuilt_after_removal(monkeypatch: pytest.MonkeyPatch, driver: Any, port_id: str) -> None:
    """The port's filter is put back just after its first removal, as a host reconcile
    that read the port's row before the removal does (and whose re-check still finds the
    row bound here)."""
    real = driver.remove_port_filter
    spec = driver.filters[port_id]

    def removed_then_rebuilt(ref: Any) -> None:
        real(ref)
        if ref == port_id and not rebuilt:
            rebuilt.append(port_id)
            driver.ensure_port_filter(spec)

    rebuilt: list[str] = []
    monkeypatch.setattr(driver, "remove_port_filter", removed_then_rebuilt)


def test_a_filter_rebuilt_while_its_port_was_deleted_is_removed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = network(stack)
    sub = subnet(stack, net)
    vm = port(stack, net, sub, "10.0.0.5", "compute:nova", "s1", tag=3)
    with stack.db.session() as s:
        s.get(Port, vm).binding_host = "testhost"
    _sync(stack)
    driver = stack.drivers.network
    _rebuilt_after_removal(monkeypatch, driver, vm)
    stack.bridge.run(lambda c: net_starter.delete_port(c, PROJECT, vm))
    assert vm not in driver.filters
