"""Ports, Neutron v2.0 shape: addresses, MACs, groups, ownership; and a dead engine."""

from __future__ import annotations

import threading

import pytest

from api import create_app
from api.bridge import TemporalBridge
from nimbus.db_network import IPAllocation, Network, Port, SecurityGroup, Subnet
from tests.support.neutron import Neutron, count, error_type
from tests.support.stack import Stack
from tests.support.temporal_server import free_port

ROWS = (Network, Subnet, Port, IPAllocation)


@pytest.fixture
def alice(stack: Stack) -> Neutron:
    return Neutron(stack, "alice")


@pytest.fixture
def net(alice: Neutron) -> dict[str, str]:
    """Alice's network and its 10.0.0.0/24 subnet (DHCP holds 10.0.0.2)."""
    network = alice.network()
    return {"network": network["id"], "subnet": alice.subnet(network["id"])["id"]}


def test_port_gets_the_lowest_free_address_a_mac_and_the_default_group(
    alice: Neutron, net: dict[str, str]
) -> None:
    port = alice.port(net["network"], name="p")
    assert port["fixed_ips"] == [{"subnet_id": net["subnet"], "ip_address": "10.0.0.3"}]
    assert port["mac_address"].startswith("fa:16:3e:") and port["status"] == "DOWN"
    default = alice.get("security-groups", name="default").json["security_groups"]
    assert port["security_groups"] == [default[0]["id"]]
    assert port["binding:vif_type"] == "unbound" and port["allowed_address_pairs"] == []
    assert alice.port(net["network"])["fixed_ips"][0]["ip_address"] == "10.0.0.4"


def test_explicit_address_and_filters(alice: Neutron, net: dict[str, str]) -> None:
    wanted = [{"subnet_id": net["subnet"], "ip_address": "10.0.0.50"}]
    port = alice.port(net["network"], fixed_ips=wanted, device_id="vm-1")
    assert port["fixed_ips"] == wanted
    found = alice.get("ports", fixed_ips="ip_address=10.0.0.50").json["ports"]
    assert [p["id"] for p in found] == [port["id"]]
    assert [p["id"] for p in alice.get("ports", device_id="vm-1").json["ports"]] == [port["id"]]
    by_ip_only = alice.port(net["network"], fixed_ips=[{"ip_address": "10.0.0.60"}])
    assert by_ip_only["fixed_ips"][0]["subnet_id"] == net["subnet"]


def test_address_outside_the_subnet_is_400(alice: Neutron, net: dict[str, str]) -> None:
    before = count(alice.stack, *ROWS)
    outside = [{"subnet_id": net["subnet"], "ip_address": "10.9.9.9"}]
    r = alice.create("port", network_id=net["network"], fixed_ips=outside)
    assert r.status_code == 400 and "not a valid IP for the specified subnet" in str(r.json)
    broadcast = [{"subnet_id": net["subnet"], "ip_address": "10.0.0.255"}]
    assert alice.create("port", network_id=net["network"], fixed_ips=broadcast).status_code == 400
    assert count(alice.stack, *ROWS) == before


def test_used_address_and_mac_are_409(alice: Neutron, net: dict[str, str]) -> None:
    first = alice.port(net["network"])
    taken = [{"ip_address": first["fixed_ips"][0]["ip_address"]}]
    r = alice.create("port", network_id=net["network"], fixed_ips=taken)
    assert r.status_code == 409 and error_type(r) == "IpAddressAlreadyAllocated"
    r = alice.create("port", network_id=net["network"], mac_address=first["mac_address"])
    assert r.status_code == 409 and error_type(r) == "MacAddressInUse"
    bad_mac = alice.create("port", network_id=net["network"], mac_address="01:00:00:00:00:01")
    assert bad_mac.status_code == 400


def test_full_subnet_is_409(alice: Neutron) -> None:
    network = alice.network()
    pools = [{"start": "10.0.0.2", "end": "10.0.0.3"}]
    alice.subnet(network["id"], allocation_pools=pools)
    alice.port(network["id"])
    r = alice.create("port", network_id=network["id"])
    assert r.status_code == 409 and error_type(r) == "IpAddressGenerationFailure"


def test_port_on_another_projects_network_is_404(
    stack: Stack, alice: Neutron, net: dict[str, str]
) -> None:
    bob = Neutron(stack, "bob")
    r = bob.create("port", network_id=net["network"])
    assert r.status_code == 404 and error_type(r) == "NetworkNotFound"
    port = alice.port(net["network"])
    assert bob.get(f"ports/{port['id']}").status_code == 404
    assert bob.delete(f"ports/{port['id']}").status_code == 404
    assert bob.get("ports").json["ports"] == []


def test_port_on_an_external_network_is_for_admins(stack: Stack, alice: Neutron) -> None:
    admin = Neutron(stack, "admin")
    public = admin.network("public", **{"router:external": True})
    admin.subnet(public["id"], "172.24.4.0/24", enable_dhcp=False)
    assert alice.create("port", network_id=public["id"]).status_code == 403
    own = alice.network("own")["id"]
    assert alice.create("port", network_id=own, device_owner="network:dhcp").status_code == 403


def test_port_update_groups_and_port_security(alice: Neutron, net: dict[str, str]) -> None:
    port = alice.port(net["network"])
    group = alice.make("security_group", name="web")
    r = alice.put(f"ports/{port['id']}", {"port": {"security_groups": [group["id"]]}})
    assert r.status_code == 200 and r.json["port"]["security_groups"] == [group["id"]]
    r = alice.put(f"ports/{port['id']}", {"port": {"port_security_enabled": False}})
    assert r.status_code == 409
    off = {"port_security_enabled": False, "security_groups": []}
    r = alice.put(f"ports/{port['id']}", {"port": off})
    assert r.status_code == 200 and r.json["port"]["port_security_enabled"] is False
    r = alice.put(f"ports/{port['id']}", {"port": {"fixed_ips": [{"ip_address": "10.0.0.77"}]}})
    assert r.json["port"]["fixed_ips"][0]["ip_address"] == "10.0.0.77"
    assert alice.put(f"ports/{port['id']}", {"port": {"mac_address": "x"}}).status_code == 400


def test_network_in_use_cannot_be_deleted(alice: Neutron, net: dict[str, str]) -> None:
    port = alice.port(net["network"])
    r = alice.delete(f"networks/{net['network']}")
    assert r.status_code == 409 and error_type(r) == "NetworkInUse"
    assert alice.get(f"networks/{net['network']}").json["network"]["status"] == "ACTIVE"
    assert alice.delete(f"ports/{port['id']}").status_code == 204
    assert alice.delete(f"networks/{net['network']}").status_code == 204
    assert count(alice.stack, *ROWS) == (0, 0, 0, 0)


def test_dhcp_port_is_not_the_users_to_delete(alice: Neutron, net: dict[str, str]) -> None:
    dhcp = alice.get("ports", device_owner="network:dhcp").json["ports"][0]
    r = alice.delete(f"ports/{dhcp['id']}")
    assert r.status_code == 409 and error_type(r) == "PortInUse"


def test_with_the_engine_down_writes_are_503_and_change_nothing(
    stack: Stack, alice: Neutron, net: dict[str, str]
) -> None:
    port = alice.port(net["network"])
    empty = alice.network("empty")["id"]
    dead = TemporalBridge(f"127.0.0.1:{free_port()}", "default", timeout=5)
    client = create_app(stack.settings, stack.db, dead, block_store=stack.store).test_client()
    before = count(stack, *ROWS, SecurityGroup)
    base, h = "/networking/v2.0", alice.h
    calls = [
        client.post(f"{base}/networks", json={"network": {"name": "n"}}, headers=h),
        client.post(
            f"{base}/subnets",
            json={"subnet": {"network_id": net["network"], "cidr": "10.5.0.0/24"}},
            headers=h,
        ),
        client.post(f"{base}/ports", json={"port": {"network_id": net["network"]}}, headers=h),
        client.put(f"{base}/ports/{port['id']}", json={"port": {"security_groups": []}}, headers=h),
        client.delete(f"{base}/ports/{port['id']}", headers=h),
        client.delete(f"{base}/networks/{empty}", headers=h),
    ]
    assert [c.status_code for c in calls] == [503] * 6
    assert count(stack, *ROWS, SecurityGroup) == before
    assert alice.get(f"ports/{port['id']}").json["port"]["security_groups"] != []
    assert alice.get(f"networks/{empty}").json["network"]["status"] == "ACTIVE"
    dead.close()


def test_concurrent_creates_get_distinct_addresses_tags_and_segments(
    stack: Stack, alice: Neutron, net: dict[str, str]
) -> None:
    results: list[int] = []

    def create(kind: str, **attrs: str) -> None:
        results.append(alice.create(kind, **attrs).status_code)

    threads = [
        threading.Thread(target=create, args=("port",), kwargs={"network_id": net["network"]})
        for _ in range(8)
    ] + [threading.Thread(target=create, args=("network",), kwargs={"name": "n"}) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 12
    with stack.db.session() as s:
        ips = [a.ip_address for a in s.query(IPAllocation).all()]
        tags = [p.tag for p in s.query(Port).all() if p.tag is not None]
        segments = [n.segment for n in s.query(Network).all()]
    assert len(set(ips)) == len(ips) == 9 and len(set(tags)) == len(tags) == 8
    assert sorted(segments) == [1, 2, 3, 4, 5]
