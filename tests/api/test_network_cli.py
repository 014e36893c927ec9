"""The unmodified ``openstack`` CLI drives the networking API over HTTP (fake drivers)."""

from __future__ import annotations

import pytest

from tests.support.cli_local import cli, ok, openstack, served, settings
from tests.support.stack import Stack

pytestmark = pytest.mark.one_database

__all__ = ["served", "settings"]  # fixtures, used by name


def test_networks_subnets_ports_and_rules_with_the_cli(served: Stack) -> None:
    s = served
    net = cli(s, "alice", "network create private")
    assert net["status"] == "ACTIVE" and net["router:external"] is False
    sub = cli(s, "alice", "subnet create --network private --subnet-range 10.0.0.0/24 sub")
    assert sub["gateway_ip"] == "10.0.0.1" and sub["allocation_pools"]
    port = cli(s, "alice", "port create --network private p1")
    assert port["fixed_ips"][0]["ip_address"] == "10.0.0.3"
    assert [p["Name"] for p in cli(s, "alice", "port list --network private")] == ["", "p1"]
    rule = cli(s, "alice", "security group rule create --protocol tcp --dst-port 22 default")
    assert rule["port_range_min"] == rule["port_range_max"] == 22
    mine = cli(s, "admin", "security group rule create --protocol tcp --dst-port 80 default")
    assert mine["project_id"] != rule["project_id"]
    assert len(cli(s, "alice", "security group rule list default")) == 5
    assert {"router", "external-net"} <= {e["Alias"] for e in cli(s, "alice", "extension list")}
    refused = openstack(s, "alice", "subnet create --network private --subnet-range x bad")
    assert refused.returncode != 0 and "x" in refused.stderr
    ok(s, "alice", "port delete p1")
    ok(s, "alice", "subnet delete sub")
    ok(s, "alice", "network delete private")
    assert cli(s, "alice", "network list") == []


def test_router_gateway_and_floating_ip_with_the_cli(served: Stack) -> None:
    s = served
    cli(s, "admin", "network create --external public")
    cli(s, "admin", "subnet create --network public --subnet-range 172.24.4.0/24 --no-dhcp pub")
    cli(s, "alice", "network create private")
    cli(s, "alice", "subnet create --network private --subnet-range 10.0.0.0/24 sub")
    cli(s, "alice", "router create r1")
    ok(s, "alice", "router add subnet r1 sub")
    ok(s, "alice", "router set --external-gateway public r1")
    public = cli(s, "alice", "network show public")
    router = cli(s, "alice", "router show r1")
    assert router["external_gateway_info"]["network_id"] == public["id"]
    port = cli(s, "alice", "port create --network private p1")
    fip = cli(s, "alice", "floating ip create public")
    address = fip["floating_ip_address"]
    assert address.startswith("172.24.4.")
    ok(s, "alice", f"floating ip set --port {port['id']} {address}")
    shown = cli(s, "alice", f"floating ip show {address}")
    assert shown["status"] == "ACTIVE" and shown["router_id"] == router["id"]
    assert {n["Name"] for n in cli(s, "alice", "network list")} == {"public", "private"}
    for command in (
        f"floating ip delete {address}",
        "port delete p1",
        "router unset --external-gateway r1",
        "router remove subnet r1 sub",
        "router delete r1",
    ):
        ok(s, "alice", command)
    assert cli(s, "alice", "router list") == []


def test_host_routes_and_several_fixed_ips_from_one_subnet_with_the_cli(served: Stack) -> None:
    s = served
    net = cli(s, "alice", "network create private")
    sub = cli(
        s,
        "alice",
        "subnet create --network private --subnet-range 10.0.0.0/24 "
        "--host-route destination=10.8.0.0/16,gateway=10.0.0.9 sub",
    )
    assert sub["host_routes"] == [{"destination": "10.8.0.0/16", "nexthop": "10.0.0.9"}]
    port = cli(
        s,
        "alice",
        "port create --network private --fixed-ip subnet=sub,ip-address=10.0.0.10 "
        "--fixed-ip subnet=sub,ip-address=10.0.0.11 p1",
    )
    assert [ip["ip_address"] for ip in port["fixed_ips"]] == ["10.0.0.10", "10.0.0.11"]
    ok(s, "alice", "subnet set --host-route destination=10.9.0.0/16,gateway=10.0.0.9 sub")
    routes = cli(s, "alice", "subnet show sub")["host_routes"]
    assert {r["destination"] for r in routes} == {"10.8.0.0/16", "10.9.0.0/16"}
    bad = openstack(s, "alice", "subnet set --host-route destination=10.7.0.0/16,gateway=x sub")
    assert bad.returncode != 0 and "nexthop" in bad.stderr
    (served_subnet,) = s.drivers.network.dhcp[net["id"]].subnets
    assert {r.destination for r in served_subnet.host_routes} == {"10.8.0.0/16", "10.9.0.0/16"}
