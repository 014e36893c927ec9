"""The metadata service, as a guest reaches it through its network's proxy: servers booted
over the fake drivers, each asking about itself by (network, source address)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.metadata import NETWORK_HEADER, create_metadata_app
from tests.support.neutron import Neutron
from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _boot(stack: Stack, name: str, network_id: str, **spec: Any) -> dict[str, Any]:
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": stack.image_id(), **spec}}
    body["server"]["networks"] = [{"uuid": network_id}]
    headers = {"X-Auth-Token": stack.token("alice")}
    response = stack.client.post("/compute/v2.1/servers", json=body, headers=headers)
    assert response.status_code == 202, response.json
    server_id = str(response.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=headers).json
    return dict(shown["server"])


def _address(server: dict[str, Any]) -> str:
    (addresses,) = server["addresses"].values()
    return str(addresses[0]["addr"])


@pytest.fixture
def world(stack: Stack) -> dict[str, Any]:
    neutron = Neutron(stack, "alice")
    net = neutron.network("net")
    neutron.subnet(net["id"], "10.0.0.0/24")
    other = neutron.network("other")
    neutron.subnet(other["id"], "10.0.0.0/24")  # the same addresses, another network
    headers = {"X-Auth-Token": stack.token("alice")}
    made = stack.client.post(
        "/compute/v2.1/os-keypairs",
        json={"keypair": {"name": "desk"}},
        headers=headers,
    )
    assert made.status_code == 200, made.json
    user_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    web = _boot(
        stack, "web 1", net["id"], key_name="desk", user_data=user_data, metadata={"role": "web"}
    )
    db = _boot(stack, "db", other["id"])
    key = made.json["keypair"]["public_key"]
    return {"net": net, "other": other, "web": web, "db": db, "key": key}


@pytest.fixture
def metadata(stack: Stack) -> FlaskClient:
    return create_metadata_app(stack.settings, stack.db).test_client()


def _ask(client: FlaskClient, network_id: str, address: str, path: str) -> Any:
    headers = {NETWORK_HEADER: network_id, "X-Forwarded-For": address}
    return client.get(path, headers=headers)


def test_meta_data_json_names_the_asking_server_and_its_key(metadata, world):
    web = world["web"]
    answer = _ask(metadata, world["net"]["id"], _address(web), "/openstack/latest/meta_data.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    doc = json.loads(answer.data)
    assert doc["uuid"] == web["id"] and doc["name"] == "web 1" and doc["hostname"] == "web-1"
    key = world["key"]
    assert doc["public_keys"] == {"desk": key} and doc["meta"] == {"role": "web"}
    assert doc["keys"] == [{"name": "desk", "type": "ssh", "data": key}]
    assert doc["project_id"] == web["tenant_id"]


def test_the_same_address_on_another_network_is_another_server(metadata, world):
    db = world["db"]
    assert _address(db) == _address(world["web"])  # both first on 10.0.0.0/24
    answer = _ask(
        metadata, world["other"]["id"], _address(db), "/openstack/2012-08-10/meta_data.json"
    )
    doc = json.loads(answer.data)
    assert doc["uuid"] == db["id"] and doc["public_keys"] == {}


def test_user_data_is_served_verbatim_and_missing_user_data_is_404(metadata, world):
    net, other = world["net"]["id"], world["other"]["id"]
    web, db = _address(world["web"]), _address(world["db"])
    assert _ask(metadata, net, web, "/openstack/latest/user_data").data == b"#!/bin/sh\necho hi\n"
    assert _ask(metadata, net, web, "/latest/user-data").data == b"#!/bin/sh\necho hi\n"
    assert _ask(metadata, other, db, "/openstack/latest/user_data").status_code == 404
    assert _ask(metadata, other, db, "/latest/user-data").status_code == 404
    assert "user_data" in _ask(metadata, net, web, "/openstack/latest").text.split("\n")
    assert "user_data" not in _ask(metadata, other, db, "/openstack/latest").text.split("\n")


def test_network_data_json_lists_the_servers_nic(metadata, world, stack):
    web = world["web"]
    doc = _ask(
        metadata, world["net"]["id"], _address(web), "/openstack/latest/network_data.json"
    ).json
    (mac,) = [a["OS-EXT-IPS-MAC:mac_addr"] for a in web["addresses"]["net"]]
    assert doc["links"] == [
        {"id": "interface0", "type": "phy", "ethernet_mac_address": mac, "mtu": 1450}
    ]
    assert doc["networks"] == [{"id": "network0", "type": "ipv4_dhcp", "link": "interface0"}]


def test_ec2_style_tree(metadata, world):
    net, web = world["net"]["id"], world["web"]
    ask = lambda path: _ask(metadata, net, _address(web), path)  # noqa: E731
    listing = ask("/latest/meta-data/").text.split("\n")
    assert {"instance-id", "local-ipv4", "public-keys/", "placement/", "hostname"} <= set(listing)
    assert ask("/latest/meta-data/local-ipv4").text == _address(web)
    assert ask("/latest/meta-data/hostname").text == "web-1"
    assert ask("/latest/meta-data/instance-type").text == "m1.tiny"
    assert ask("/latest/meta-data/security-groups").text == "default"
    assert ask("/latest/meta-data/placement/availability-zone").text == "nova"
    assert ask("/latest/meta-data/public-keys/").text == "0=desk"
    assert ask("/latest/meta-data/public-keys/0/openssh-key").text == world["key"]
    assert ask("/latest/meta-data/public-ipv4").text == ""
    assert ask("/2009-04-04/").text == "meta-data/\nuser-data"
    assert ask("/latest/meta-data/no-such-thing").status_code == 404
    assert "latest" in ask("/").text.split("\n") and "2012-08-10" in ask("/openstack").text


@pytest.mark.parametrize(
    "network, address",
    [("", "10.0.0.3"), ("not-a-uuid", "10.0.0.3"), ("{net}", ""), ("{net}", "10.0.0.3, 10.0.0.4")],
)
def test_requests_the_proxy_did_not_stamp_are_refused(metadata, world, network, address):
    network = network.format(net=world["net"]["id"])
    answer = _ask(metadata, network, address, "/openstack/latest/meta_data.json")
    assert answer.status_code == 400 and world["web"]["id"] not in answer.text


def test_an_address_no_server_holds_learns_nothing(metadata, world):
    net = world["net"]["id"]
    for address in ("10.0.0.200", "10.0.0.2"):  # nobody, the DHCP port
        answer = _ask(metadata, net, address, "/openstack/latest/meta_data.json")
        assert answer.status_code == 404 and world["web"]["id"] not in answer.text
    assert (
        _ask(
            metadata, net, _address(world["web"]), "/openstack/1999-01-01/meta_data.json"
        ).status_code
        == 404
    )


def test_a_deleted_server_learns_nothing(metadata, world, stack):
    web = world["web"]
    headers = {"X-Auth-Token": stack.token("alice")}
    address = _address(web)
    assert (
        stack.client.delete(f"/compute/v2.1/servers/{web['id']}", headers=headers).status_code
        == 204
    )
    stack.finish(server_workflow_id(web["id"], "delete"))
    answer = _ask(metadata, world["net"]["id"], address, "/openstack/latest/meta_data.json")
    assert answer.status_code == 404
