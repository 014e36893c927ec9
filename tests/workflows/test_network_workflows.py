"""Network workflows on a real Temporal server over the fake drivers.

Rows are written here as the API writes them (the intent), then the workflow realises
them; a failure injected after each step must leave neither devices nor rows behind.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from launcher.netbootstrap import stage_public_network
from nimbus.db import Host
from nimbus.db_network import (
    OWNER_COMPUTE,
    OWNER_DHCP,
    OWNER_FLOATINGIP,
    OWNER_ROUTER_GATEWAY,
    OWNER_ROUTER_INTERFACE,
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from nimbus.errors import InvalidSpec, NimbusError
from tests.support.faults import FailAfter
from tests.support.stack import Stack
from workflows import net_starter

PROJECT = "p1"


def _run(stack: Stack, fn: Any, *args: Any) -> None:
    stack.bridge.run(lambda c: fn(c, PROJECT, *args))


def _add(stack: Stack, *rows: Any) -> None:
    with stack.db.session() as s:
        for row in rows:
            s.add(row)
            s.flush()


def _count(stack: Stack, model: Any) -> int:
    with stack.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


_segment = iter(range(100, 10_000))
_mac = iter(range(1, 10_000))


def _mac_address() -> str:
    n = next(_mac)
    return f"fa:16:3e:00:{n >> 8:02x}:{n & 0xFF:02x}"


def network(stack: Stack, external: bool = False) -> str:
    row = Network(project_id=PROJECT, name="n", segment=next(_segment), external=external)
    _add(stack, row)
    _run(stack, net_starter.create_network, row.id)
    return row.id


def subnet(stack: Stack, network_id: str, cidr: str = "10.0.0.0/24", dhcp: bool = True) -> str:
    base = cidr.rsplit(".", 1)[0]
    row = Subnet(
        project_id=PROJECT,
        network_id=network_id,
        cidr=cidr,
        gateway_ip=f"{base}.1",
        allocation_pools=[{"start": f"{base}.2", "end": f"{base}.254"}],
        enable_dhcp=dhcp,
    )
    _add(stack, row)
    if dhcp:
        port(stack, network_id, row.id, f"{base}.2", owner=OWNER_DHCP, create=False)
    _run(stack, net_starter.create_subnet, row.id)
    return row.id


def port(
    stack: Stack,
    network_id: str,
    subnet_id: str,
    ip: str,
    owner: str = "",
    device: str = "",
    create: bool = True,
    groups: tuple[str, ...] = (),
    tag: int | None = None,
) -> str:
    row = Port(
        project_id=PROJECT,
        network_id=network_id,
        mac_address=_mac_address(),
        device_owner=owner,
        device_id=device,
        security_group_ids=list(groups),
        tag=tag,
    )
    _add(stack, row)
    _add(
        stack,
        IPAllocation(port_id=row.id, subnet_id=subnet_id, network_id=network_id, ip_address=ip),
    )
    if create:
        _run(stack, net_starter.create_port, row.id)
    return row.id


def test_network_with_subnet_gets_bridge_and_dhcp_with_leases(stack: Stack) -> None:
    net = network(stack)
    sub = subnet(stack, net)
    vm_port = port(stack, net, sub, "10.0.0.5")
    driver = stack.drivers.network
    assert driver.networks[net].segment >= 100
    dhcp = driver.dhcp[net]
    assert dhcp.addresses == ("10.0.0.2/24",)
    assert dhcp.subnets[0].gateway_ip == "10.0.0.1"
    with stack.db.session() as s:
        mac = s.get(Port, vm_port).mac_address
        assert s.get(Network, net).status == "ACTIVE" and s.get(Subnet, sub).ready
    assert [(lease.mac, lease.ip) for lease in dhcp.leases] == [(mac, "10.0.0.5")]


@pytest.mark.parametrize("step", ["network_plan", "ensure_network", "set_network_status"])
def test_failed_network_create_leaves_no_bridge_and_no_row(stack: Stack, step: str) -> None:
    fault = FailAfter(step)
    stack.restart_worker([fault])
    row = Network(project_id=PROJECT, name="n", segment=next(_segment))
    _add(stack, row)
    with pytest.raises(NimbusError, match="injected failure"):
        _run(stack, net_starter.create_network, row.id)
    assert fault.fired.is_set()
    assert stack.drivers.network.networks == {}
    assert _count(stack, Network) == 0


@pytest.mark.parametrize("step", ["ensure_network", "ensure_dhcp", "mark_subnet_ready"])
def test_failed_subnet_create_removes_subnet_dhcp_port_and_server(stack: Stack, step: str) -> None:
    net = network(stack)
    stack.restart_worker([FailAfter(step)])
    with pytest.raises(NimbusError, match="injected failure"):
        subnet(stack, net)
    assert net not in stack.drivers.network.dhcp
    assert (_count(stack, Subnet), _count(stack, Port), _count(stack, IPAllocation)) == (0, 0, 0)


@pytest.mark.parametrize("step", ["ensure_dhcp", "set_group_members"])
def test_failed_port_create_removes_the_port_and_its_lease(stack: Stack, step: str) -> None:
    net = network(stack)
    sub = subnet(stack, net)
    group = SecurityGroup(project_id=PROJECT, name="default")
    _add(stack, group)
    stack.restart_worker([FailAfter(step)])
    with pytest.raises(NimbusError, match="injected failure"):
        port(stack, net, sub, "10.0.0.9", groups=(group.id,))
    assert stack.drivers.network.dhcp[net].leases == ()
    assert stack.drivers.network.groups.get(group.id, ()) == ()
    assert _count(stack, Port) == 1  # the DHCP port only


def test_delete_network_removes_dhcp_bridge_and_rows(stack: Stack) -> None:
    net = network(stack)
    subnet(stack, net)
    _run(stack, net_starter.delete_network, net)
    driver = stack.drivers.network
    assert (driver.networks, driver.dhcp) == ({}, {})
    assert [_count(stack, m) for m in (Network, Subnet, Port, IPAllocation)] == [0, 0, 0, 0]


def test_delete_subnet_stops_dhcp_when_it_was_the_last(stack: Stack) -> None:
    net = network(stack)
    sub = subnet(stack, net)
    _run(stack, net_starter.delete_subnet, sub)
    assert net not in stack.drivers.network.dhcp and net in stack.drivers.network.networks
    assert _count(stack, Port) == 0


def _router_with_gateway(stack: Stack) -> tuple[str, str, str, str]:
    """An external network, a tenant network and a router joining them."""
    ext = network(stack, external=True)
    ext_sub = subnet(stack, ext, "172.24.4.0/24", dhcp=False)
    net = network(stack)
    sub = subnet(stack, net)
    router = Router(project_id=PROJECT, name="r")
    _add(stack, router)
    gw = port(stack, ext, ext_sub, "172.24.4.10", OWNER_ROUTER_GATEWAY, router.id, create=False)
    with stack.db.session() as s:
        row = s.get(Router, router.id)
        row.gw_port_id, row.external_network_id = gw, ext
    _run(stack, net_starter.create_router, router.id)
    qr = port(stack, net, sub, "10.0.0.1", OWNER_ROUTER_INTERFACE, router.id, create=False)
    _run(stack, net_starter.update_router, router.id, (), qr, True)
    return ext, ext_sub, net, router.id


def test_router_gets_gateway_interface_and_default_route(stack: Stack) -> None:
    ext, _, net, router = _router_with_gateway(stack)
    spec = stack.drivers.network.routers[router]
    assert spec.gateway is not None and spec.gateway.address == "172.24.4.10/24"
    assert spec.gateway_ip == "172.24.4.1"
    assert [i.address for i in spec.interfaces] == ["10.0.0.1/24"]
    assert stack.drivers.network.networks[ext].host_address == "172.24.4.1/24"


def test_failed_interface_add_deletes_the_port_it_made(stack: Stack) -> None:
    _, _, net, router = _router_with_gateway(stack)
    sub2 = subnet(stack, network(stack), "10.1.0.0/24")
    with stack.db.session() as s:
        net2 = s.get(Subnet, sub2).network_id
    stack.drivers.network.fail("ensure_router", InvalidSpec("cannot"), times=1)
    qr = port(stack, net2, sub2, "10.1.0.1", OWNER_ROUTER_INTERFACE, router, create=False)
    with pytest.raises(NimbusError, match="cannot"):
        _run(stack, net_starter.update_router, router, (), qr, True)
    with stack.db.session() as s:
        assert s.get(Port, qr) is None
    assert len(stack.drivers.network.routers[router].interfaces) == 1


def _associated_fip(stack: Stack, fixed: str, floating: str) -> tuple[str, str, str, str]:
    """A router with a gateway and a server port behind it whose floating IP is realised;
    returns (router, server port, floating IP id, floating IP's own port)."""
    ext, ext_sub, net, router = _router_with_gateway(stack)
    with stack.db.session() as s:
        sub = s.scalars(select(Subnet).where(Subnet.network_id == net)).one().id
    vm = port(stack, net, sub, fixed, OWNER_COMPUTE, "server-1")
    fport = port(stack, ext, ext_sub, floating, OWNER_FLOATINGIP, create=False)
    fip = FloatingIP(
        project_id=PROJECT,
        floating_network_id=ext,
        floating_port_id=fport,
        floating_ip_address=floating,
        port_id=vm,
        fixed_ip_address=fixed,
        router_id=router,
    )
    _add(stack, fip)
    _run(stack, net_starter.sync_floatingip, fip.id, (router,), True)
    return router, vm, fip.id, fport


def test_floating_ip_association_adds_nat_and_delete_removes_it(stack: Stack) -> None:
    router, _, fip, fport = _associated_fip(stack, "10.0.0.7", "172.24.4.20")
    nat = stack.drivers.network.routers[router].floating
    assert [(n.floating_ip, n.fixed_ip) for n in nat] == [("172.24.4.20", "10.0.0.7")]
    with stack.db.session() as s:
        assert s.get(FloatingIP, fip).status == "ACTIVE"
    _run(stack, net_starter.delete_floatingip, fip)
    assert stack.drivers.network.routers[router].floating == ()
    assert _count(stack, FloatingIP) == 0
    with stack.db.session() as s:
        assert s.get(Port, fport) is None


def test_deleting_a_port_releases_its_floating_ip_nat(stack: Stack) -> None:
    router, vm, fip, _ = _associated_fip(stack, "10.0.0.8", "172.24.4.21")
    _run(stack, net_starter.delete_port, vm)
    assert stack.drivers.network.routers[router].floating == ()
    with stack.db.session() as s:
        assert s.get(FloatingIP, fip).port_id is None


def test_rule_change_refilters_bound_ports_of_the_group(stack: Stack) -> None:
    net = network(stack)
    sub = subnet(stack, net)
    group = SecurityGroup(project_id=PROJECT, name="web")
    _add(stack, group)
    vm = port(stack, net, sub, "10.0.0.5", OWNER_COMPUTE, "s1", groups=(group.id,), tag=7)
    with stack.db.session() as s:
        s.get(Port, vm).binding_host = "testhost"
    _run(stack, net_starter.update_port, vm)
    assert stack.drivers.network.filters[vm].rules == ()
    rule = SecurityGroupRule(
        project_id=PROJECT,
        security_group_id=group.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=80,
        port_range_max=80,
    )
    _add(stack, rule)
    _run(stack, net_starter.sync_security_group, group.id, rule.id)
    rules = stack.drivers.network.filters[vm].rules
    assert [(r.protocol, r.port_min) for r in rules] == [("tcp", 80)]
    assert stack.drivers.network.groups[group.id] == ("10.0.0.5",)


def test_public_network_is_staged_once_and_realised_with_the_host_address(stack: Stack) -> None:
    settings = dataclasses.replace(stack.settings, external_cidr="100.64.9.0/24")
    first = stage_public_network(stack.db, settings, PROJECT)
    assert (first.create_network, first.create_subnet) == (True, True)
    _run(stack, net_starter.create_network, first.network_id)
    _run(stack, net_starter.create_subnet, first.subnet_id)
    again = stage_public_network(stack.db, settings, PROJECT)
    assert again == dataclasses.replace(first, create_network=False, create_subnet=False)
    spec = stack.drivers.network.networks[first.network_id]
    assert spec.external and spec.host_address == "100.64.9.1/24"
    assert first.network_id not in stack.drivers.network.dhcp


def test_a_tenant_network_floods_to_every_other_hosts_vtep(stack: Stack) -> None:
    _add(stack, Host(name="h2", vcpus=1, memory_mib=1, vtep_address="10.1.1.2"))
    net = network(stack)
    spec = stack.drivers.network.networks[net]
    assert (spec.local_ip, spec.peers) == ("127.0.0.1", ("10.1.1.2",))
