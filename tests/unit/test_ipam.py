"""IPv4 address management: subnet layouts, pools, overlaps and the next free address."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from nimbus import ipam
from nimbus.errors import InvalidSpec


def _pools(layout: ipam.Layout) -> list[dict[str, str]]:
    return [p.as_dict() for p in layout.pools]


def test_default_layout_is_first_host_gateway_and_the_rest_as_a_pool() -> None:
    layout = ipam.plan_subnet("10.0.0.0/24")
    assert layout.gateway == IPv4Address("10.0.0.1")
    assert _pools(layout) == [{"start": "10.0.0.2", "end": "10.0.0.254"}]


def test_a_gateway_in_the_middle_splits_the_pool() -> None:
    layout = ipam.plan_subnet("10.0.0.0/29", "10.0.0.3")
    assert _pools(layout) == [
        {"start": "10.0.0.1", "end": "10.0.0.2"},
        {"start": "10.0.0.4", "end": "10.0.0.6"},
    ]


def test_no_gateway_leaves_the_whole_host_range() -> None:
    layout = ipam.plan_subnet("192.168.1.0/24", None)
    assert layout.gateway is None
    assert _pools(layout) == [{"start": "192.168.1.1", "end": "192.168.1.254"}]


@pytest.mark.parametrize(
    ("cidr", "words"),
    [
        ("10.0.0.1/24", "'10.0.0.0/24' is recommended"),
        ("10.0.0.0", "not a valid CIDR"),
        ("10.0.0.0/33", "not a valid CIDR"),
        ("10.0.0.0/30", "prefix length"),
        ("10.0.0.0/7", "prefix length"),
        ("fd00::/64", "not an IPv4 CIDR"),
        (None, "not a valid CIDR"),
    ],
)
def test_bad_cidrs(cidr: object, words: str) -> None:
    with pytest.raises(InvalidSpec, match=words):
        ipam.parse_cidr(cidr)


@pytest.mark.parametrize(
    ("gateway", "words"),
    [("10.1.0.1", "outside the subnet"), ("10.0.0.0", "not a usable"), ("x", "not a valid")],
)
def test_bad_gateways(gateway: str, words: str) -> None:
    with pytest.raises(InvalidSpec, match=words):
        ipam.plan_subnet("10.0.0.0/24", gateway)


@pytest.mark.parametrize(
    ("pools", "words"),
    [
        ([{"start": "10.0.0.20", "end": "10.0.0.10"}], "start is after end"),
        ([{"start": "10.0.0.10", "end": "10.0.1.10"}], "outside the subnet"),
        ([{"start": "10.0.0.0", "end": "10.0.0.10"}], "outside the subnet"),
        ([{"start": "10.0.0.1", "end": "10.0.0.10"}], "conflicts with"),
        (
            [{"start": "10.0.0.30", "end": "10.0.0.40"}, {"start": "10.0.0.2", "end": "10.0.0.30"}],
            "overlapping",
        ),
        ([{"start": "10.0.0.2"}], "not a valid IPv4 address"),
        ([], "non-empty list"),
    ],
)
def test_bad_pools(pools: object, words: str) -> None:
    with pytest.raises(InvalidSpec, match=words):
        ipam.plan_subnet("10.0.0.0/24", "default", pools)


def test_pools_are_kept_in_address_order() -> None:
    raw = [{"start": "10.0.0.50", "end": "10.0.0.60"}, {"start": "10.0.0.2", "end": "10.0.0.9"}]
    assert _pools(ipam.plan_subnet("10.0.0.0/24", "default", raw))[0]["start"] == "10.0.0.2"


def test_next_free_skips_used_addresses_and_moves_to_the_next_pool() -> None:
    pools = ipam.pools_from_rows(
        [{"start": "10.0.0.2", "end": "10.0.0.3"}, {"start": "10.0.0.10", "end": "10.0.0.11"}]
    )
    assert ipam.next_free(pools, []) == IPv4Address("10.0.0.2")
    assert ipam.next_free(pools, ["10.0.0.2", "10.0.0.99"]) == IPv4Address("10.0.0.3")
    assert ipam.next_free(pools, ["10.0.0.3", "10.0.0.2"]) == IPv4Address("10.0.0.10")
    assert ipam.next_free(pools, ["10.0.0.2", "10.0.0.3", "10.0.0.10", "10.0.0.11"]) is None


def test_next_free_fills_a_gap_first() -> None:
    pools = ipam.default_pools(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"))
    assert ipam.next_free(pools, ["10.0.0.2", "10.0.0.4"]) == IPv4Address("10.0.0.3")


def test_overlapping_names_the_first_clash() -> None:
    net = IPv4Network("10.0.0.128/25")
    assert ipam.overlapping(net, [("a", "10.1.0.0/24"), ("b", "10.0.0.0/24")]) == "b"
    assert ipam.overlapping(net, [("a", "10.0.0.0/25")]) is None


def test_hosts_exclude_network_and_broadcast() -> None:
    net = IPv4Network("10.0.0.0/29")
    assert not ipam.is_host(net, IPv4Address("10.0.0.0"))
    assert ipam.is_host(net, IPv4Address("10.0.0.6"))
    assert not ipam.is_host(net, IPv4Address("10.0.0.7"))


def test_nameservers_and_host_routes() -> None:
    assert ipam.parse_nameservers(["8.8.8.8", "1.1.1.1"]) == ["8.8.8.8", "1.1.1.1"]
    with pytest.raises(InvalidSpec, match="Too many"):
        ipam.parse_nameservers([f"10.0.0.{i}" for i in range(6)])
    net = IPv4Network("10.0.0.0/24")
    route = {"destination": "192.168.0.0/16", "nexthop": "10.0.0.5"}
    assert ipam.parse_host_routes([route], net) == [route]
    with pytest.raises(InvalidSpec, match="outside the subnet"):
        ipam.parse_host_routes([{**route, "nexthop": "10.9.0.5"}], net)


def test_a_loose_prefix_is_normalized_when_not_strict() -> None:
    assert str(ipam.parse_network("10.0.0.7/8", strict=False)) == "10.0.0.0/8"
    assert str(ipam.parse_network("::/0", version=6)) == "::/0"
