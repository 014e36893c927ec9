"""One contract suite for every NetworkDriver: the in-memory fake and Linux (pyroute2,
dnsmasq, nftables). Real runs use a table of their own and uuid ids, and delete all they made
even when a test fails."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from activities.network.base import (
    DhcpLease,
    DhcpSpec,
    DhcpSubnet,
    FloatingNat,
    NetworkSpec,
    PortFilter,
    RouterPort,
    RouterSpec,
    SecurityRule,
    bridge_name,
)
from activities.network.fake import FakeNetworkDriver
from nimbus.errors import InvalidSpec, NotFound
from tests.support.network import Driver, Probe, free_segment, linux_driver, new_id

KINDS = ["fake", pytest.param("linux", marks=pytest.mark.network)]
SUBNET = DhcpSubnet("subnet-1", "10.0.0.0/24", "10.0.0.1", ("10.0.0.53",))


@contextmanager
def make_driver(kind: str) -> Iterator[Driver]:
    if kind == "fake":
        yield FakeNetworkDriver()
    else:
        with linux_driver() as driver:
            yield driver


@pytest.fixture(params=KINDS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    with make_driver(request.param) as made:
        yield made


@pytest.fixture
def probe(driver: Driver) -> Probe:
    return Probe(driver)


def network(driver: Driver, **fields: object) -> NetworkSpec:
    spec = NetworkSpec(new_id(), free_segment(), **fields)  # type: ignore[arg-type]
    driver.ensure_network(spec)
    return spec


def dhcp_spec(network_id: str, *leases: DhcpLease) -> DhcpSpec:
    return DhcpSpec(network_id, new_id(), "fa:16:3e:00:00:02", ("10.0.0.2/24",), (SUBNET,), leases)


def port_filter(network: NetworkSpec, tag: int, *rules: SecurityRule) -> PortFilter:
    return PortFilter(
        new_id(),
        network.network_id,
        network.segment,
        tag,
        "fa:16:3e:00:00:05",
        ("10.0.0.5",),
        rules,
    )


def router_port(network: NetworkSpec, address: str, mac: str = "fa:16:3e:00:01:01") -> RouterPort:
    return RouterPort(new_id(), network.network_id, mac, address)


# -- networks ------------------------------------------------------------------------------


def test_ensure_network_twice_is_one_network(driver: Driver):
    spec = network(driver)
    driver.ensure_network(spec)
    assert driver.state().networks == {spec.network_id}


def test_flood_entries_follow_the_peers(driver: Driver, probe: Probe):
    spec = network(driver, peers=("127.0.0.2", "127.0.0.3"))
    assert probe.flood(spec) == {"127.0.0.2", "127.0.0.3"}
    changed = NetworkSpec(spec.network_id, spec.segment, peers=("127.0.0.3", "127.0.0.4"))
    driver.ensure_network(changed)
    assert probe.flood(changed) == {"127.0.0.3", "127.0.0.4"}


def test_delete_network_removes_it_and_a_missing_one_is_fine(driver: Driver):
    spec = network(driver)
    driver.delete_network(spec.network_id)
    driver.delete_network(spec.network_id)
    assert spec.network_id not in driver.state().networks


def test_external_network_is_a_network(driver: Driver):
    spec = network(driver, external=True, host_address="100.64.250.1/24")
    assert spec.network_id in driver.state().networks


@pytest.mark.parametrize(
    "fields",
    [{"segment": 0}, {"mtu": 100}, {"peers": ("not-an-ip",)}, {"host_address": "10.0.0.1/24"}],
)
def test_a_bad_network_spec_is_invalid(driver: Driver, fields: dict[str, object]):
    spec = NetworkSpec(**{"network_id": new_id(), "segment": free_segment(), **fields})  # type: ignore[arg-type]
    with pytest.raises(InvalidSpec):
        driver.ensure_network(spec)
    assert driver.state().networks == set()


def test_state_is_read_back_from_the_host(driver: Driver, probe: Probe):
    spec = network(driver)
    probe.remove_bridge_behind_its_back(spec.network_id)
    assert spec.network_id not in driver.state().networks
    driver.ensure_network(spec)
    assert spec.network_id in driver.state().networks


# -- DHCP ----------------------------------------------------------------------------------


def test_dhcp_on_a_missing_network_is_not_found(driver: Driver):
    with pytest.raises(NotFound):
        driver.ensure_dhcp(dhcp_spec(new_id()))
    assert driver.state().dhcp == set()


def test_ensure_dhcp_twice_then_delete_twice(driver: Driver):
    net = network(driver)
    spec = dhcp_spec(net.network_id, DhcpLease("fa:16:3e:00:00:05", "10.0.0.5", "vm"))
    driver.ensure_dhcp(spec)
    driver.ensure_dhcp(spec)
    assert driver.state().dhcp == {net.network_id}
    driver.delete_dhcp(net.network_id)
    driver.delete_dhcp(net.network_id)
    assert driver.state().dhcp == set()


def test_dhcp_leases_converge(driver: Driver, probe: Probe):
    net = network(driver)
    first = DhcpLease("fa:16:3e:00:00:05", "10.0.0.5", "a")
    driver.ensure_dhcp(dhcp_spec(net.network_id, first))
    second = DhcpLease("fa:16:3e:00:00:06", "10.0.0.6", "b")
    driver.ensure_dhcp(dhcp_spec(net.network_id, second))
    assert probe.leases(net.network_id) == {("fa:16:3e:00:00:06", "10.0.0.6")}


def test_an_older_dhcp_plan_arriving_late_changes_nothing(driver: Driver, probe: Probe):
    net = network(driver)
    port = new_id()
    old = DhcpLease("fa:16:3e:00:00:05", "10.0.0.5", "a")
    new = DhcpLease("fa:16:3e:00:00:06", "10.0.0.6", "b")

    def spec(generation: int, *leases: DhcpLease) -> DhcpSpec:
        addresses = ("10.0.0.2/24",)
        return DhcpSpec(
            net.network_id,
            port,
            "fa:16:3e:00:00:02",
            addresses,
            (SUBNET,),
            leases,
            generation=generation,
        )

    driver.ensure_dhcp(spec(2, old, new))
    driver.ensure_dhcp(spec(1, old))
    assert probe.leases(net.network_id) == {(old.mac, old.ip), (new.mac, new.ip)}
    driver.ensure_dhcp(spec(2, old, new))  # the same plan again is fine
    assert probe.leases(net.network_id) == {(old.mac, old.ip), (new.mac, new.ip)}


def test_dhcp_port_outside_its_subnets_is_invalid(driver: Driver):
    net = network(driver)
    spec = DhcpSpec(net.network_id, new_id(), "fa:16:3e:00:00:02", ("10.9.0.2/24",), (SUBNET,))
    with pytest.raises(InvalidSpec):
        driver.ensure_dhcp(spec)


# -- routers -------------------------------------------------------------------------------


def test_router_on_a_missing_network_is_not_found(driver: Driver):
    missing = NetworkSpec(new_id(), 1)
    with pytest.raises(NotFound):
        driver.ensure_router(RouterSpec(new_id(), (router_port(missing, "10.0.0.1/24"),)))
    assert driver.state().routers == set()


def test_router_converges_interfaces_and_floating_ips(driver: Driver, probe: Probe):
    one, two = network(driver), network(driver)
    ext = network(driver, external=True, host_address="100.64.251.1/24")
    qr1, qr2 = router_port(one, "10.0.0.1/24"), router_port(two, "10.1.0.1/24", "fa:16:3e:00:01:02")
    qg = router_port(ext, "100.64.251.10/24", "fa:16:3e:00:01:03")
    floating = (FloatingNat("100.64.251.20", "10.0.0.5"), FloatingNat("100.64.251.21", "10.0.0.6"))
    spec = RouterSpec(new_id(), (qr1, qr2), qg, "100.64.251.1", True, floating)
    driver.ensure_router(spec)
    driver.ensure_router(spec)
    assert probe.router_addresses(spec.router_id)[f"qg-{qg.port_id[:11]}"] == {
        "100.64.251.10/24",
        "100.64.251.20/32",
        "100.64.251.21/32",
    }
    smaller = RouterSpec(spec.router_id, (qr2,), qg, "100.64.251.1", True, floating[1:])
    driver.ensure_router(smaller)
    assert probe.router_addresses(spec.router_id) == {
        f"qr-{qr2.port_id[:11]}": {"10.1.0.1/24"},
        f"qg-{qg.port_id[:11]}": {"100.64.251.10/24", "100.64.251.21/32"},
    }


def test_delete_router_twice(driver: Driver):
    net = network(driver)
    spec = RouterSpec(new_id(), (router_port(net, "10.0.0.1/24"),))
    driver.ensure_router(spec)
    assert driver.state().routers == {spec.router_id}
    driver.delete_router(spec.router_id)
    driver.delete_router(spec.router_id)
    assert driver.state().routers == set()


def test_floating_ip_without_gateway_is_invalid(driver: Driver):
    net = network(driver)
    spec = RouterSpec(new_id(), floating=(FloatingNat("100.64.251.20", "10.0.0.5"),))
    with pytest.raises(InvalidSpec):
        driver.ensure_router(spec)
    assert net.network_id in driver.state().networks


# -- port filters and groups ---------------------------------------------------------------


def test_port_filter_install_replace_remove(driver: Driver):
    net = network(driver)
    spec = port_filter(net, 11, SecurityRule("ingress", protocol="tcp", port_min=22, port_max=22))
    driver.ensure_port_filter(spec)
    driver.ensure_port_filter(PortFilter(**{**spec.__dict__, "rules": (), "tag": 12}))
    assert driver.state().port_filters == {spec.port_id}
    driver.remove_port_filter(spec.port_id)
    driver.remove_port_filter(spec.port_id)
    assert driver.state().port_filters == set()


def test_filters_and_zones_come_back_after_their_tables_vanished(driver: Driver, probe: Probe):
    net, ext = network(driver), network(driver, external=True)
    spec = port_filter(net, 19, SecurityRule("egress"))
    driver.ensure_port_filter(spec)
    probe.remove_tables_behind_its_back()
    assert driver.state().port_filters == set() and driver.state().networks == set()
    driver.ensure_port_filter(spec)
    driver.ensure_network(net)
    driver.ensure_network(ext)
    assert driver.state().port_filters == {spec.port_id}
    assert driver.state().networks == {net.network_id, ext.network_id}
    driver.remove_port_filter(spec.port_id)
    assert driver.state().port_filters == set()


def test_port_filter_works_before_and_without_its_network(driver: Driver):
    spec = port_filter(NetworkSpec(new_id(), free_segment()), 13)
    driver.ensure_port_filter(spec)
    assert driver.state().port_filters == {spec.port_id}


@pytest.mark.parametrize(
    "rule",
    [
        SecurityRule("sideways"),
        SecurityRule("ingress", protocol="sctp-ish"),
        SecurityRule("ingress", protocol="tcp", port_min=90, port_max=80),
        SecurityRule("ingress", remote_cidr="10.0.0.0/33"),
        SecurityRule("ingress", ethertype="IPv6", remote_cidr="10.0.0.0/24"),
        SecurityRule("ingress", remote_cidr="10.0.0.0/24", remote_group="g"),
    ],
)
def test_a_bad_rule_is_invalid(driver: Driver, rule: SecurityRule):
    spec = port_filter(NetworkSpec(new_id(), 1), 14, rule)
    with pytest.raises(InvalidSpec):
        driver.ensure_port_filter(spec)
    assert driver.state().port_filters == set()


def test_a_tag_held_by_another_port_is_invalid(driver: Driver):
    net = network(driver)
    first = port_filter(net, 15)
    driver.ensure_port_filter(first)
    second = port_filter(net, 15)
    with pytest.raises(InvalidSpec):
        driver.ensure_port_filter(second)
    assert driver.state().port_filters == {first.port_id}


def test_port_security_off_is_still_a_filter(driver: Driver):
    spec = PortFilter(**{**port_filter(network(driver), 16).__dict__, "port_security": False})
    driver.ensure_port_filter(spec)
    assert driver.state().port_filters == {spec.port_id}


def test_group_members_are_replaced_then_forgotten(driver: Driver, probe: Probe):
    group = new_id()
    driver.set_group_members(group, ("10.0.0.5", "10.0.0.6"))
    driver.set_group_members(group, ("10.0.0.6", "fd00::6"))
    assert probe.members(group) == {"10.0.0.6", "fd00::6"}
    driver.delete_group(group)
    driver.delete_group(group)
    assert driver.state().groups == set()


def test_a_group_in_use_can_be_deleted(driver: Driver):
    group = new_id()
    driver.set_group_members(group, ("10.0.0.6",))
    rule = SecurityRule("ingress", protocol="tcp", remote_group=group)
    driver.ensure_port_filter(port_filter(network(driver), 17, rule))
    driver.delete_group(group)
    assert driver.state().groups == set()


def test_bad_member_address_is_invalid(driver: Driver):
    with pytest.raises(InvalidSpec):
        driver.set_group_members(new_id(), ("10.0.0.300",))


def test_concurrent_filters_all_land(driver: Driver):
    net = network(driver)
    specs = [port_filter(net, 100 + i, SecurityRule("egress")) for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(driver.ensure_port_filter, specs))
    assert driver.state().port_filters == {s.port_id for s in specs}
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(driver.remove_port_filter, [s.port_id for s in specs]))
    assert driver.state().port_filters == set()


def test_concurrent_networks_with_dhcp_all_land(driver: Driver):
    def make(_: int) -> str:
        net = network(driver)
        driver.ensure_dhcp(dhcp_spec(net.network_id))
        return net.network_id

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(make, range(8)))
    state = driver.state()
    assert state.networks == ids and state.dhcp == ids


@pytest.mark.parametrize("kind", KINDS)
def test_two_drivers_do_not_see_each_others_objects(kind: str):
    with make_driver(kind) as one, make_driver(kind) as two:
        net = network(one)
        spec = port_filter(net, 18)
        one.ensure_port_filter(spec)
        two.ensure_port_filter(port_filter(net, 18))
        two.remove_port_filter(spec.port_id)
        assert one.state().port_filters == {spec.port_id}
        assert two.state().networks == set()


@pytest.mark.network
def test_purge_removes_a_network_whose_devices_are_incomplete() -> None:
    """``recorded`` lists what ``state`` leaves out (here: a bridge without its VXLAN and
    zone), so removing everything still reaches it."""
    import subprocess

    with make_driver("linux") as driver:
        spec = network(driver)
        subprocess.run(["ip", "link", "del", f"vxlan-{spec.segment}"], check=True)
        driver.tables.remove_network(spec.network_id, None)  # type: ignore[attr-defined]
        assert spec.network_id not in driver.state().networks
        assert spec.network_id in driver.recorded().networks  # type: ignore[attr-defined]
        driver.delete_network(spec.network_id)
        bridges = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        assert f"brq{spec.network_id[:11]}" not in bridges


def test_bridges_lists_the_networks_and_one_made_behind_the_driver_s_back(
    driver: Driver,
) -> None:
    spec = network(driver)
    stranger = f"brq{new_id()[:11]}"
    if isinstance(driver, FakeNetworkDriver):
        driver.foreign_bridges.add(stranger)
    else:
        subprocess.run(["ip", "link", "add", stranger, "type", "bridge"], check=True)
    try:
        assert {bridge_name(spec.network_id), stranger} <= driver.bridges()
        assert stranger not in {bridge_name(n) for n in driver.state().networks}
    finally:
        if not isinstance(driver, FakeNetworkDriver):
            subprocess.run(["ip", "link", "del", stranger], check=False)
    driver.delete_network(spec.network_id)
    assert bridge_name(spec.network_id) not in driver.bridges()
