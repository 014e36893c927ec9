"""Routers, their interfaces and gateways, and floating IPs, over the fake drivers."""

from __future__ import annotations

from typing import Any

import pytest

from api import create_app
from api.bridge import TemporalBridge
from nimbus.db_network import FloatingIP, IPAllocation, Port, Router, SecurityGroupRule
from tests.support.neutron import Neutron, count, error_type
from tests.support.stack import Stack
from tests.support.temporal_server import free_port


@pytest.fixture
def alice(stack: Stack) -> Neutron:
    return Neutron(stack, "alice")


@pytest.fixture
def public(stack: Stack) -> dict[str, Any]:
    """An external network with 172.24.4.0/24, made by the admin."""
    admin = Neutron(stack, "admin")
    network = admin.network("public", **{"router:external": True})
    subnet = admin.subnet(network["id"], "172.24.4.0/24", enable_dhcp=False)
    return {"network": network["id"], "subnet": subnet["id"]}


@pytest.fixture
def private(alice: Neutron) -> dict[str, Any]:
    network = alice.network("private")
    return {"network": network["id"], "subnet": alice.subnet(network["id"])["id"]}


def _router(alice: Neutron, public: dict[str, Any]) -> dict[str, Any]:
    return alice.make("router", name="r", external_gateway_info={"network_id": public["network"]})


def _attach(alice: Neutron, router_id: str, **body: str) -> Any:
    return alice.put(f"routers/{router_id}/add_router_interface", body)


def test_router_with_gateway(alice: Neutron, public: dict[str, Any]) -> None:
    router = _router(alice, public)
    assert router["status"] == "ACTIVE" and router["routes"] == [] and router["ha"] is False
    gateway = router["external_gateway_info"]
    assert gateway["network_id"] == public["network"] and gateway["enable_snat"] is True
    assert gateway["external_fixed_ips"] == [
        {"subnet_id": public["subnet"], "ip_address": "172.24.4.2"}
    ]
    realised = alice.stack.drivers.network.routers[router["id"]]
    assert realised.gateway is not None and realised.gateway_ip == "172.24.4.1"
    assert alice.get("ports").json["ports"] == []  # gateway ports are not the project's


def test_gateway_must_be_external_and_snat_off_is_for_admins(
    alice: Neutron, public: dict[str, Any], private: dict[str, Any]
) -> None:
    before = count(alice.stack, Router, Port)
    r = alice.create("router", name="r", external_gateway_info={"network_id": private["network"]})
    assert r.status_code == 400 and "not a valid external network" in str(r.json)
    off = {"network_id": public["network"], "enable_snat": False}
    assert alice.create("router", name="r", external_gateway_info=off).status_code == 403
    missing = alice.create("router", name="r", external_gateway_info={"network_id": "nope"})
    assert missing.status_code == 404
    assert count(alice.stack, Router, Port) == before


def test_interfaces_add_remove_and_router_in_use(
    alice: Neutron, public: dict[str, Any], private: dict[str, Any]
) -> None:
    router = _router(alice, public)
    info = _attach(alice, router["id"], subnet_id=private["subnet"])
    assert info.status_code == 200 and info.json["subnet_ids"] == [private["subnet"]]
    assert info.json["network_id"] == private["network"] and info.json["id"] == router["id"]
    port = alice.get(f"ports/{info.json['port_id']}").json["port"]
    assert port["device_owner"] == "network:router_interface"
    assert port["fixed_ips"][0]["ip_address"] == "10.0.0.1"
    assert port["status"] == "ACTIVE"  # plumbed: automation waits for this
    (dhcp,) = alice.get("ports", device_owner="network:dhcp").json["ports"]
    assert dhcp["status"] == "ACTIVE" and dhcp["network_id"] == private["network"]
    assert len(alice.stack.drivers.network.routers[router["id"]].interfaces) == 1
    assert _attach(alice, router["id"], subnet_id=private["subnet"]).status_code == 409
    assert alice.delete(f"ports/{port['id']}").status_code == 409
    in_use = alice.delete(f"routers/{router['id']}")
    assert in_use.status_code == 409 and error_type(in_use) == "RouterInUse"
    body = {"subnet_id": private["subnet"]}
    assert alice.put(f"routers/{router['id']}/remove_router_interface", body).status_code == 200
    assert alice.get(f"ports/{port['id']}").status_code == 404
    assert alice.delete(f"routers/{router['id']}").status_code == 204
    assert count(alice.stack, Router) == (0,)
    assert router["id"] not in alice.stack.drivers.network.routers


def test_interface_refusals(
    alice: Neutron, public: dict[str, Any], private: dict[str, Any]
) -> None:
    router = _router(alice, public)
    no_gateway = alice.network("nogw")
    subnet = alice.subnet(no_gateway["id"], "10.3.0.0/24", gateway_ip=None)
    assert _attach(alice, router["id"], subnet_id=subnet["id"]).status_code == 400
    same_range = alice.network("same")
    clash = alice.subnet(same_range["id"], "10.0.0.0/24")
    assert _attach(alice, router["id"], subnet_id=private["subnet"]).status_code == 200
    assert _attach(alice, router["id"], subnet_id=clash["id"]).status_code == 400
    assert _attach(alice, router["id"]).status_code == 400
    gone = alice.put(f"routers/{router['id']}/remove_router_interface", {"port_id": "nope"})
    assert gone.status_code == 404 and error_type(gone) == "RouterInterfaceNotFound"


def test_interface_from_a_port_of_ours(
    alice: Neutron, public: dict[str, Any], private: dict[str, Any]
) -> None:
    router = _router(alice, public)
    port = alice.port(private["network"], fixed_ips=[{"ip_address": "10.0.0.1"}], device_owner="")
    info = _attach(alice, router["id"], port_id=port["id"])
    assert info.status_code == 200 and info.json["port_id"] == port["id"]
    claimed = alice.get(f"ports/{port['id']}").json["port"]
    assert claimed["device_id"] == router["id"]
    other = alice.port(private["network"], device_id="vm")
    assert _attach(alice, router["id"], port_id=other["id"]).status_code == 409


def test_floating_ip_lifecycle(
    alice: Neutron, public: dict[str, Any], private: dict[str, Any]
) -> None:
    router = _router(alice, public)
    _attach(alice, router["id"], subnet_id=private["subnet"])
    port = alice.port(private["network"], device_id="vm", device_owner="compute:nova")
    fip = alice.make("floatingip", floating_network_id=public["network"])
    assert fip["floating_ip_address"] == "172.24.4.3" and fip["status"] == "DOWN"
    assert fip["port_id"] is None and fip["router_id"] is None
    r = alice.put(f"floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})
    assert r.status_code == 200 and r.json["floatingip"]["router_id"] == router["id"]
    assert r.json["floatingip"]["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert r.json["floatingip"]["status"] == "ACTIVE"
    nat = alice.stack.drivers.network.routers[router["id"]].floating
    assert [(n.floating_ip, n.fixed_ip) for n in nat] == [("172.24.4.3", "10.0.0.3")]
    found = alice.get("floatingips", floating_ip_address="172.24.4.3").json["floatingips"]
    assert [f["id"] for f in found] == [fip["id"]]
    r = alice.put(f"floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    assert r.json["floatingip"]["status"] == "DOWN" and r.json["floatingip"]["port_id"] is None
    assert alice.stack.drivers.network.routers[router["id"]].floating == ()
    assert alice.delete(f"floatingips/{fip['id']}").status_code == 204
    assert count(alice.stack, FloatingIP) == (0,)


def test_floating_ip_refusals(
    alice: Neutron, public: dict[str, Any], private: dict[str, Any]
) -> None:
    r = alice.create("floatingip", floating_network_id=private["network"])
    assert r.status_code == 400
    assert alice.create("floatingip", floating_network_id="nope").status_code == 404
    fixed = {"floating_network_id": public["network"], "floating_ip_address": "172.24.4.99"}
    assert alice.create("floatingip", **fixed).status_code == 403
    port = alice.port(private["network"])
    before = count(alice.stack, FloatingIP, Port, IPAllocation)
    r = alice.create("floatingip", floating_network_id=public["network"], port_id=port["id"])
    assert r.status_code == 404 and error_type(r) == "ExternalGatewayForFloatingIPNotFound"
    assert count(alice.stack, FloatingIP, Port, IPAllocation) == before


def test_floating_ip_holds_its_router_and_fixed_ip(
    stack: Stack, alice: Neutron, public: dict[str, Any], private: dict[str, Any]
) -> None:
    router = _router(alice, public)
    _attach(alice, router["id"], subnet_id=private["subnet"])
    port = alice.port(private["network"])
    fip = alice.make("floatingip", floating_network_id=public["network"], port_id=port["id"])
    assert fip["status"] == "ACTIVE"
    second = alice.create("floatingip", floating_network_id=public["network"], port_id=port["id"])
    assert second.status_code == 409 and error_type(second) == "FloatingIPPortAlreadyAssociated"
    body = {"subnet_id": private["subnet"]}
    r = alice.put(f"routers/{router['id']}/remove_router_interface", body)
    assert r.status_code == 409 and error_type(r) == "RouterInterfaceInUseByFloatingIP"
    r = alice.put(f"routers/{router['id']}", {"router": {"external_gateway_info": {}}})
    assert r.status_code == 409
    bob = Neutron(stack, "bob")
    assert bob.get(f"floatingips/{fip['id']}").status_code == 404
    assert alice.delete(f"ports/{port['id']}").status_code == 204
    assert alice.get(f"floatingips/{fip['id']}").json["floatingip"]["port_id"] is None


def test_gateway_cleared_and_set_again(alice: Neutron, public: dict[str, Any]) -> None:
    router = _router(alice, public)
    r = alice.put(f"routers/{router['id']}", {"router": {"external_gateway_info": None}})
    assert r.status_code == 200 and r.json["router"]["external_gateway_info"] is None
    assert count(alice.stack, Port) == (0,)
    body = {"router": {"name": "again", "external_gateway_info": {"network_id": public["network"]}}}
    r = alice.put(f"routers/{router['id']}", body)
    assert r.json["router"]["name"] == "again"
    assert r.json["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert (
        alice.put(f"routers/{router['id']}", {"router": {"routes": [{"x": 1}]}}).status_code == 400
    )


def test_with_the_engine_down_router_fip_and_rule_writes_change_nothing(
    stack: Stack, alice: Neutron, public: dict[str, Any], private: dict[str, Any]
) -> None:
    router = _router(alice, public)
    rule = alice.make(
        "security_group_rule",
        security_group_id=alice.get("security-groups").json["security_groups"][0]["id"],
        direction="ingress",
        protocol="icmp",
    )
    dead = TemporalBridge(f"127.0.0.1:{free_port()}", "default", timeout=5)
    client = create_app(stack.settings, stack.db, dead, block_store=stack.store).test_client()
    rows = (Router, Port, IPAllocation, FloatingIP, SecurityGroupRule)
    before = count(stack, *rows)
    base, h = "/networking/v2.0", alice.h
    gateway = {"network_id": public["network"]}
    calls = [
        client.post(
            f"{base}/routers", json={"router": {"external_gateway_info": gateway}}, headers=h
        ),
        client.put(
            f"{base}/routers/{router['id']}/add_router_interface",
            json={"subnet_id": private["subnet"]},
            headers=h,
        ),
        client.put(
            f"{base}/routers/{router['id']}",
            json={"router": {"external_gateway_info": None}},
            headers=h,
        ),
        client.post(
            f"{base}/floatingips",
            json={"floatingip": {"floating_network_id": public["network"]}},
            headers=h,
        ),
        client.delete(f"{base}/security-group-rules/{rule['id']}", headers=h),
        client.delete(f"{base}/routers/{router['id']}", headers=h),
    ]
    assert [c.status_code for c in calls] == [503] * 6
    assert count(stack, *rows) == before
    shown = alice.get(f"routers/{router['id']}").json["router"]
    assert shown["status"] == "ACTIVE" and shown["external_gateway_info"] is not None
    assert alice.get(f"security-group-rules/{rule['id']}").status_code == 200
    dead.close()
