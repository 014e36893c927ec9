"""Servers on networks, over the fake drivers: ports made or claimed at create, bound and
filtered at boot, plugged in as NICs with a config drive, and released at delete."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from nimbus.db_network import IPAllocation, Port
from tests.support.faults import FailAfter
from tests.support.neutron import Neutron, count
from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _create(stack: Stack, user: str = "alice", **spec: Any) -> Any:
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id(), **spec}}
    headers = {"X-Auth-Token": stack.token(user)}
    return stack.client.post("/compute/v2.1/servers", json=body, headers=headers)


def _boot(stack: Stack, **spec: Any) -> str:
    response = _create(stack, **spec)
    assert response.status_code == 202, response.json
    server_id = str(response.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _show(stack: Stack, server_id: str) -> dict[str, Any]:
    headers = {"X-Auth-Token": stack.token("alice")}
    return dict(stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=headers).json)


@pytest.fixture
def neutron(stack: Stack) -> Neutron:
    return Neutron(stack, "alice")


@pytest.fixture
def net(neutron: Neutron) -> dict[str, Any]:
    network = neutron.network("net")
    neutron.subnet(network["id"], "10.0.0.0/24")
    return network


def test_server_on_a_network_gets_a_bound_filtered_port_and_a_nic(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    user_data = base64.b64encode(b"#!/bin/sh\necho hello\n").decode()
    server_id = _boot(stack, networks=[{"uuid": net["id"]}], user_data=user_data)
    server = _show(stack, server_id)["server"]
    assert server["status"] == "ACTIVE"
    (address,) = server["addresses"]["net"]
    (port,) = neutron.get("ports", device_id=server_id).json["ports"]
    assert port["status"] == "ACTIVE" and port["binding:host_id"] == "testhost"
    assert address["addr"] == port["fixed_ips"][0]["ip_address"]
    assert address["OS-EXT-IPS-MAC:mac_addr"] == port["mac_address"]
    assert server["security_groups"] == [{"name": "default"}]
    driver = stack.drivers.network
    assert driver.filters[port["id"]].mac == port["mac_address"]
    assert (port["mac_address"], address["addr"]) in [
        (x.mac, x.ip) for x in driver.dhcp[net["id"]].leases
    ]
    domain = stack.hypervisor.domains[f"nimbus-{server_id}"].spec
    assert [n.mac for n in domain.nics] == [port["mac_address"]]
    assert domain.config_drive and domain.config_drive.endswith("config.iso")


def test_a_boot_asks_for_its_clone_first_and_plugs_its_host_in_one_step(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    server_id = _boot(stack, networks=[{"uuid": net["id"]}])
    steps = stack.scheduled(server_workflow_id(server_id, "boot"))
    assert steps == ["create_root_disk", "plug_host", "launch_domain"]
    (port,) = neutron.get("ports", device_id=server_id).json["ports"]
    (group,) = port["security_groups"]
    address = port["fixed_ips"][0]["ip_address"]
    driver = stack.drivers.network
    assert set(driver.networks) == {net["id"]}
    assert driver.filters[port["id"]].mac == port["mac_address"]
    assert driver.groups[group] == (address,)
    assert (port["mac_address"], address) in [(x.mac, x.ip) for x in driver.dhcp[net["id"]].leases]


def test_a_boot_turns_a_dhcp_port_it_plumbed_active(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    (dhcp,) = neutron.get("ports", network_id=net["id"]).json["ports"]
    with stack.db.session() as s:
        row = s.get(Port, dhcp["id"])
        assert row is not None and row.status == "ACTIVE"
        row.status = "DOWN"
    _boot(stack, networks=[{"uuid": net["id"]}])
    assert neutron.get(f"ports/{dhcp['id']}").json["port"]["status"] == "ACTIVE"


def test_deleting_the_server_deletes_its_port_filter_and_lease(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    server_id = _boot(stack, networks=[{"uuid": net["id"]}])
    (port,) = neutron.get("ports", device_id=server_id).json["ports"]
    headers = {"X-Auth-Token": stack.token("alice")}
    assert (
        stack.client.delete(f"/compute/v2.1/servers/{server_id}", headers=headers).status_code
        == 204
    )
    stack.finish(server_workflow_id(server_id, "delete"))
    assert neutron.get(f"ports/{port['id']}").status_code == 404
    assert port["id"] not in stack.drivers.network.filters
    assert stack.drivers.network.dhcp[net["id"]].leases == ()


@pytest.mark.parametrize("claimed", [False, True])
def test_a_filter_rebuilt_while_the_server_was_deleted_is_removed(
    stack: Stack,
    neutron: Neutron,
    net: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    claimed: bool,
) -> None:
    """A host reconcile that read the port's row before the delete removed its filter puts
    the filter back; the delete removes it again once the row is gone (made for the
    server) or unbound (the user's)."""
    from tests.workflows.test_host_sync import _rebuilt_after_removal

    if claimed:
        port_id = neutron.post("ports", {"port": {"network_id": net["id"]}}).json["port"]["id"]
        server_id = _boot(stack, networks=[{"port": port_id}])
    else:
        server_id = _boot(stack, networks=[{"uuid": net["id"]}])
        (port,) = neutron.get("ports", device_id=server_id).json["ports"]
        port_id = port["id"]
    _rebuilt_after_removal(monkeypatch, stack.drivers.network, port_id)
    headers = {"X-Auth-Token": stack.token("alice")}
    response = stack.client.delete(f"/compute/v2.1/servers/{server_id}", headers=headers)
    assert response.status_code == 204
    stack.finish(server_workflow_id(server_id, "delete"))
    assert port_id not in stack.drivers.network.filters


def test_a_claimed_port_is_handed_back_unbound_on_delete(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    port = neutron.port(net["id"], name="mine")
    server_id = _boot(stack, networks=[{"port": port["id"]}])
    assert neutron.get(f"ports/{port['id']}").json["port"]["device_id"] == server_id
    in_use = _create(stack, networks=[{"port": port["id"]}])
    assert in_use.status_code == 409
    headers = {"X-Auth-Token": stack.token("alice")}
    stack.client.delete(f"/compute/v2.1/servers/{server_id}", headers=headers)
    stack.finish(server_workflow_id(server_id, "delete"))
    after = neutron.get(f"ports/{port['id']}").json["port"]
    assert (after["device_id"], after["binding:host_id"], after["status"]) == ("", "", "DOWN")


@pytest.mark.parametrize(
    "step",
    [
        "place_bind_and_plan",
        # the bridge, the group's members, the port's filter, the lease (``PLUG_IN_ONE_STEP``)
        "plug_host",
        "create_root_disk",
        "launch_domain",
        "mark_active",
    ],
)
def test_a_failed_boot_releases_the_ports_it_made(
    stack: Stack, net: dict[str, Any], step: str
) -> None:
    stack.restart_worker([FailAfter(step)])
    server_id = _boot(stack, networks=[{"uuid": net["id"]}])
    assert _show(stack, server_id)["server"]["status"] == "ERROR"
    assert count(stack, Port) == (1,)  # the DHCP port only
    assert stack.drivers.network.filters == {}
    assert stack.drivers.network.dhcp[net["id"]].leases == ()


def test_bad_network_requests_are_refused_and_change_nothing(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    other = Neutron(stack, "bob").network("bobs")
    before = count(stack, Port, IPAllocation)
    cases = [
        ({"networks": [{"uuid": "no-such-network"}]}, 400),
        ({"networks": [{"uuid": other["id"]}]}, 400),  # another project's: not found
        ({"networks": [{"port": "no-such-port"}]}, 400),
        ({"networks": [{"uuid": net["id"], "fixed_ip": "10.9.9.9"}]}, 400),
        ({"networks": [{"uuid": net["id"], "port": "x"}]}, 400),
        ({"networks": "sideways"}, 400),
        ({"user_data": "not base64!"}, 400),
    ]
    for spec, status in cases:
        response = _create(stack, **spec)
        assert response.status_code == status, (spec, response.json)
    assert count(stack, Port, IPAllocation) == before


def test_a_network_with_a_server_on_it_cannot_be_deleted(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    _boot(stack, networks=[{"uuid": net["id"]}])
    refused = neutron.delete(f"networks/{net['id']}")
    assert refused.status_code == 409
    assert refused.json["NeutronError"]["type"] == "NetworkInUse"


def test_the_servers_security_groups_in_novas_shape(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    web = neutron.make("security_group", name="web")
    ssh = {"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}
    neutron.make("security_group_rule", security_group_id=web["id"], **ssh)
    neutron.make(
        "security_group_rule",
        security_group_id=web["id"],
        direction="ingress",
        protocol="icmp",
        remote_group_id=web["id"],
    )
    server_id = _boot(stack, networks=[{"uuid": net["id"]}], security_groups=[{"name": "web"}])
    headers = {"X-Auth-Token": stack.token("alice")}
    url = f"/compute/v2.1/servers/{server_id}/os-security-groups"
    response = stack.client.get(url, headers=headers)
    assert response.status_code == 200, response.json
    (group,) = response.json["security_groups"]
    assert (group["id"], group["name"], group["tenant_id"]) == (
        web["id"],
        "web",
        neutron.project_id,
    )
    rules = sorted(group["rules"], key=lambda r: r["ip_protocol"])  # egress rules are left out
    assert [(r["ip_protocol"], r["from_port"], r["to_port"]) for r in rules] == [
        ("icmp", -1, -1),
        ("tcp", 22, 22),
    ]
    assert rules[0]["group"] == {"name": "web", "tenant_id": neutron.project_id}
    assert rules[1]["ip_range"] == {"cidr": "0.0.0.0/0"} and rules[1]["group"] == {}
    assert all(r["parent_group_id"] == web["id"] for r in rules)
    other = {"X-Auth-Token": stack.token("bob")}
    assert stack.client.get(url, headers=other).status_code == 404


def test_add_and_remove_a_security_group_refilters_the_ports(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    web = neutron.make("security_group", name="web")
    rule = {"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}
    neutron.make("security_group_rule", security_group_id=web["id"], **rule)
    server_id = _boot(stack, networks=[{"uuid": net["id"]}])
    (port,) = neutron.get("ports", device_id=server_id).json["ports"]
    action = f"/compute/v2.1/servers/{server_id}/action"
    h = {"X-Auth-Token": stack.token("alice")}

    def http_open() -> bool:
        rules = stack.drivers.network.filters[port["id"]].rules
        return any(r.direction == "ingress" and r.port_min == 80 for r in rules)

    assert not http_open()
    added = stack.client.post(action, json={"addSecurityGroup": {"name": "web"}}, headers=h)
    assert added.status_code == 202, added.json
    assert http_open()
    groups = {g["name"] for g in _show(stack, server_id)["server"]["security_groups"]}
    assert groups == {"default", "web"}
    again = stack.client.post(action, json={"addSecurityGroup": {"name": "web"}}, headers=h)
    assert again.status_code == 400
    removed = stack.client.post(
        action, json={"removeSecurityGroup": {"name": web["id"]}}, headers=h
    )
    assert removed.status_code == 202 and not http_open()
    assert neutron.get(f"ports/{port['id']}").json["port"]["security_groups"] != [web["id"]]
    gone = stack.client.post(action, json={"removeSecurityGroup": {"name": "web"}}, headers=h)
    assert gone.status_code == 400
    unknown = {"addSecurityGroup": {"name": "no-such-group"}}
    assert stack.client.post(action, json=unknown, headers=h).status_code == 404
    body = {"addSecurityGroup": {"name": "web"}}
    reader = {"X-Auth-Token": stack.token("rita")}
    assert stack.client.post(action, json=body, headers=reader).status_code == 403
    other = {"X-Auth-Token": stack.token("bob")}
    assert stack.client.post(action, json=body, headers=other).status_code == 404
    assert not http_open()


def test_the_servers_interfaces_in_novas_shape(
    stack: Stack, neutron: Neutron, net: dict[str, Any]
) -> None:
    server_id = _boot(stack, networks=[{"uuid": net["id"]}])
    (port,) = neutron.get("ports", device_id=server_id).json["ports"]
    h = {"X-Auth-Token": stack.token("alice")}
    url = f"/compute/v2.1/servers/{server_id}/os-interface"
    (listed,) = stack.client.get(url, headers=h).json["interfaceAttachments"]
    assert listed == {
        "port_id": port["id"],
        "net_id": net["id"],
        "mac_addr": port["mac_address"],
        "port_state": "ACTIVE",
        "fixed_ips": [
            {
                "subnet_id": port["fixed_ips"][0]["subnet_id"],
                "ip_address": port["fixed_ips"][0]["ip_address"],
            }
        ],
    }
    shown = stack.client.get(f"{url}/{port['id']}", headers=h)
    assert shown.json == {"interfaceAttachment": listed}
    assert stack.client.get(f"{url}/no-such-port", headers=h).status_code == 404
    assert stack.client.get(url, headers={"X-Auth-Token": stack.token("bob")}).status_code == 404
