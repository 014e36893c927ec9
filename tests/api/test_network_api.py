"""Networks, subnets and ports, Neutron v2.0 shape, over the fake drivers."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.db_network import IPAllocation, Network, Port, Subnet
from tests.support.neutron import BASE, Neutron, count, error_type
from tests.support.stack import Stack

ROWS = (Network, Subnet, Port, IPAllocation)


@pytest.fixture
def alice(stack: Stack) -> Neutron:
    return Neutron(stack, "alice")


@pytest.fixture
def bob(stack: Stack) -> Neutron:
    return Neutron(stack, "bob")


@pytest.fixture
def admin(stack: Stack) -> Neutron:
    return Neutron(stack, "admin")


def test_versions_resources_and_extensions(alice: Neutron) -> None:
    versions = alice.stack.client.get("/networking")
    assert versions.status_code == 200
    assert versions.json["versions"][0]["id"] == "v2.0"
    assert versions.json["versions"][0]["status"] == "CURRENT"
    listed = alice.stack.client.get(BASE, headers=alice.h).json["resources"]
    assert {"networks", "subnets", "ports", "routers"} <= {r["collection"] for r in listed}
    aliases = {e["alias"] for e in alice.get("extensions").json["extensions"]}
    assert {"router", "external-net", "security-group"} <= aliases
    assert "extraroute" not in aliases
    assert alice.get("extensions/router").json["extension"]["links"] == []
    assert alice.get("extensions/dvr").status_code == 404


def test_network_is_created_active_with_neutron_shape(alice: Neutron) -> None:
    net = alice.network("blue", description="d")
    assert net["status"] == "ACTIVE" and net["admin_state_up"] is True
    assert net["tenant_id"] == net["project_id"] == alice.project_id
    assert net["shared"] is False and net["router:external"] is False
    assert net["subnets"] == [] and net["mtu"] == 1450 and net["tags"] == []
    assert net["provider:segmentation_id"] is None
    assert net["id"] in alice.stack.drivers.network.networks


def test_name_lookup_is_a_404_then_a_filtered_list(alice: Neutron) -> None:
    net = alice.network("blue")
    alice.network("green")
    missing = alice.get("networks/blue")
    assert missing.status_code == 404 and error_type(missing) == "NetworkNotFound"
    found = alice.get("networks", name="blue", unknown_filter="x").json["networks"]
    assert [n["id"] for n in found] == [net["id"]]
    assert alice.get("networks", fields="name").json["networks"][0] == {"name": "blue"}


def test_a_number_filter_matches_numbers_and_refuses_words(alice: Neutron) -> None:
    net = alice.network("blue")
    assert [n["id"] for n in alice.get("networks", mtu="1450").json["networks"]] == [net["id"]]
    assert alice.get("networks", mtu=str(2**40)).json["networks"] == []
    refused = alice.get("networks", mtu="big")
    assert refused.status_code == 400 and error_type(refused) == "HTTPBadRequest"


def test_admin_sees_segments_and_members_may_not_share(alice: Neutron, admin: Neutron) -> None:
    refused = alice.create("network", name="x", shared=True)
    assert refused.status_code == 403 and "NeutronError" in refused.json
    assert alice.create("network", name="x", **{"router:external": True}).status_code == 403
    net = alice.network()
    assert admin.get(f"networks/{net['id']}").json["network"]["provider:segmentation_id"] >= 1


def test_another_projects_network_is_404_and_shared_ones_are_seen(
    alice: Neutron, bob: Neutron, admin: Neutron
) -> None:
    private = alice.network("private")
    public = admin.network("public", **{"router:external": True})
    shared = admin.network("shared", shared=True)
    assert bob.get(f"networks/{private['id']}").status_code == 404
    assert bob.delete(f"networks/{private['id']}").status_code == 404
    seen = {n["id"] for n in bob.get("networks").json["networks"]}
    assert seen == {public["id"], shared["id"]}
    assert bob.delete(f"networks/{shared['id']}").status_code == 403


def test_reader_reads_but_may_not_write(stack: Stack, alice: Neutron) -> None:
    rita = Neutron(stack, "rita")
    net = alice.network()
    assert rita.get(f"networks/{net['id']}").status_code == 200
    assert rita.create("network", name="r").status_code == 403
    assert rita.put(f"networks/{net['id']}", {"network": {"name": "r"}}).status_code == 403
    assert rita.delete(f"networks/{net['id']}").status_code == 403


def test_network_update_and_delete(alice: Neutron) -> None:
    net = alice.network()
    changed = alice.put(f"networks/{net['id']}", {"network": {"name": "new", "description": "x"}})
    assert changed.status_code == 200 and changed.json["network"]["name"] == "new"
    assert alice.put(f"networks/{net['id']}", {"network": {"id": "x"}}).status_code == 400
    assert alice.delete(f"networks/{net['id']}").status_code == 204
    assert alice.get(f"networks/{net['id']}").status_code == 404
    assert net["id"] not in alice.stack.drivers.network.networks


def test_subnet_defaults_and_its_dhcp_port(alice: Neutron) -> None:
    net = alice.network()
    sub = alice.subnet(net["id"], name="s")
    assert sub["gateway_ip"] == "10.0.0.1" and sub["enable_dhcp"] is True
    assert sub["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert alice.get(f"networks/{net['id']}").json["network"]["subnets"] == [sub["id"]]
    dhcp = alice.get("ports", device_owner="network:dhcp").json["ports"]
    assert [p["fixed_ips"] for p in dhcp] == [[{"subnet_id": sub["id"], "ip_address": "10.0.0.2"}]]
    assert dhcp[0]["device_id"] == f"dhcp-{net['id']}"
    assert net["id"] in alice.stack.drivers.network.dhcp


def test_subnet_without_gateway_and_with_pools(alice: Neutron) -> None:
    net = alice.network()
    pools = [{"start": "10.1.0.10", "end": "10.1.0.20"}]
    sub = alice.subnet(net["id"], "10.1.0.0/24", gateway_ip=None, allocation_pools=pools)
    assert sub["gateway_ip"] is None and sub["allocation_pools"] == pools
    port = alice.port(net["id"])
    assert port["fixed_ips"][0]["ip_address"] == "10.1.0.11"


@pytest.mark.parametrize(
    ("attrs", "words"),
    [
        ({"cidr": "banana"}, "not a valid CIDR"),
        ({"cidr": "10.0.0.0"}, "not a valid CIDR"),
        ({"cidr": "10.0.0.1/24"}, "'10.0.0.0/24' is recommended"),
        ({"cidr": "10.0.0.0/30"}, "prefix length"),
        ({"cidr": "fd00::/64", "ip_version": 6}, "IPv6"),
        ({"cidr": "fd00::/64"}, "not an IPv4 CIDR"),
        ({"gateway_ip": "10.9.0.1"}, "outside the subnet"),
        ({"gateway_ip": "10.0.0.255"}, "not a usable address"),
        ({"allocation_pools": [{"start": "10.0.1.2", "end": "10.0.1.9"}]}, "outside the subnet"),
        ({"allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.2"}]}, "start is after end"),
        (
            {
                "allocation_pools": [
                    {"start": "10.0.0.2", "end": "10.0.0.9"},
                    {"start": "10.0.0.5", "end": "10.0.0.20"},
                ]
            },
            "overlapping allocation pools",
        ),
        ({"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]}, "conflicts with"),
        ({"dns_nameservers": ["8.8.8.8", "8.8.8.8"]}, "Duplicate"),
        ({"host_routes": [{"destination": "x", "nexthop": "10.0.0.5"}]}, "not a valid CIDR"),
    ],
)
def test_bad_subnets_are_400_and_change_nothing(
    alice: Neutron, attrs: dict[str, Any], words: str
) -> None:
    net = alice.network()
    before = count(alice.stack, *ROWS)
    body = {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4, **attrs}
    r = alice.post("subnets", {"subnet": body})
    assert r.status_code == 400, r.json
    assert words in r.json["NeutronError"]["message"]
    assert count(alice.stack, *ROWS) == before


def test_overlapping_subnets_in_one_network_are_refused(alice: Neutron) -> None:
    net = alice.network()
    first = alice.subnet(net["id"], "10.0.0.0/24")
    r = alice.create("subnet", network_id=net["id"], cidr="10.0.0.128/25", ip_version=4)
    assert r.status_code == 400 and first["id"] in r.json["NeutronError"]["message"]
    other = alice.network("other")
    assert alice.subnet(other["id"], "10.0.0.0/24")["cidr"] == "10.0.0.0/24"


def test_subnet_on_a_network_not_ours(alice: Neutron, bob: Neutron, admin: Neutron) -> None:
    mine = alice.network()
    r = bob.create("subnet", network_id=mine["id"], cidr="10.0.0.0/24", ip_version=4)
    assert r.status_code == 404 and error_type(r) == "NetworkNotFound"
    shared = admin.network("shared", shared=True)
    r = bob.create("subnet", network_id=shared["id"], cidr="10.0.0.0/24", ip_version=4)
    assert r.status_code == 403


def test_subnet_update_and_delete(alice: Neutron) -> None:
    net = alice.network()
    sub = alice.subnet(net["id"])
    r = alice.put(f"subnets/{sub['id']}", {"subnet": {"dns_nameservers": ["1.1.1.1"]}})
    assert r.status_code == 200 and r.json["subnet"]["dns_nameservers"] == ["1.1.1.1"]
    served = alice.stack.drivers.network.dhcp[net["id"]].subnets[0]
    assert served.dns_nameservers == ("1.1.1.1",)
    assert alice.put(f"subnets/{sub['id']}", {"subnet": {"cidr": "10.2.0.0/24"}}).status_code == 400
    port = alice.port(net["id"])
    in_use = alice.delete(f"subnets/{sub['id']}")
    assert in_use.status_code == 409 and error_type(in_use) == "SubnetInUse"
    assert alice.delete(f"ports/{port['id']}").status_code == 204
    assert alice.delete(f"subnets/{sub['id']}").status_code == 204
    assert count(alice.stack, Subnet, Port, IPAllocation) == (0, 0, 0)


def test_subnets_visibility(alice: Neutron, bob: Neutron, admin: Neutron) -> None:
    mine = alice.network()
    made_for_me = admin.subnet(mine["id"], "10.7.0.0/24")
    assert alice.get(f"subnets/{made_for_me['id']}").status_code == 200
    public = admin.network("public", **{"router:external": True})
    hidden = admin.subnet(public["id"], "172.24.4.0/24", enable_dhcp=False)
    shared = admin.network("shared", shared=True)
    seen = admin.subnet(shared["id"], "10.8.0.0/24")
    assert bob.get(f"subnets/{hidden['id']}").status_code == 404
    assert bob.get(f"subnets/{made_for_me['id']}").status_code == 404
    assert [s["id"] for s in bob.get("subnets").json["subnets"]] == [seen["id"]]


def test_bulk_create_makes_all_or_none(stack: Stack, alice: Neutron) -> None:
    made = alice.post("networks", {"networks": [{"name": "b1"}, {"name": "b2"}]})
    assert made.status_code == 201, made.json
    assert [n["name"] for n in made.json["networks"]] == ["b1", "b2"]
    assert all(n["status"] == "ACTIVE" for n in made.json["networks"])
    net = made.json["networks"][0]["id"]
    assert alice.subnet(net, "10.7.0.0/24")
    before = count(stack, Port)
    ports = alice.post("ports", {"ports": [{"network_id": net}, {"network_id": net}]})
    assert ports.status_code == 201 and len(ports.json["ports"]) == 2
    assert count(stack, Port) == (before[0] + 2,)
    # The second names a network that does not exist: the first is taken back.
    bad = alice.post("ports", {"ports": [{"network_id": net}, {"network_id": "no-such-net"}]})
    assert bad.status_code == 404, bad.json
    assert count(stack, Port) == (before[0] + 2,)
    group = alice.make("security_group", name="bulk")
    rules = [
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp"},
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "udp"},
    ]
    r = alice.post("security-group-rules", {"security_group_rules": rules})
    assert r.status_code == 201 and len(r.json["security_group_rules"]) == 2
    for body in ({"networks": []}, {"networks": {}}, {"networks": ["x"]}):
        assert alice.post("networks", body).status_code == 400
