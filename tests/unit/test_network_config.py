"""The network driver's pure parts: nftables text, dnsmasq files, spec checks, errors."""

from __future__ import annotations

import errno
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from activities.network import dhcp_config, metadata_proxy, nft_filter, nft_nat, validate
from activities.network.base import (
    DhcpLease,
    DhcpSpec,
    DhcpSubnet,
    FloatingNat,
    HostRoute,
    PortFilter,
    RouterPort,
    RouterSpec,
    SecurityRule,
)
from activities.network.dhcp import dnsmasq_user
from activities.network.errors import translate
from activities.network.fake import FakeNetworkDriver
from activities.network.nft import NftError
from nimbus.errors import BackendUnavailable, InvalidSpec

MAC = "fa:16:3e:00:00:05"


def spec(*rules: SecurityRule, ips: tuple[str, ...] = ("10.0.0.5",)) -> PortFilter:
    return PortFilter("port-1", "net-1", 7, 5, MAC, ips, rules)


# -- security group rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (SecurityRule("ingress"), "meta nfproto ipv4"),
        (
            SecurityRule("ingress", protocol="tcp", port_min=80, port_max=81),
            "meta nfproto ipv4 tcp dport 80-81",
        ),
        (SecurityRule("egress", protocol="udp", port_min=53), "meta nfproto ipv4 udp dport 53"),
        (
            SecurityRule("ingress", protocol="icmp", port_min=8, port_max=0),
            "meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0",
        ),
        (
            SecurityRule("ingress", ethertype="IPv6", protocol="icmp"),
            "meta nfproto ipv6 meta l4proto ipv6-icmp",
        ),
        (SecurityRule("egress", protocol="47"), "meta nfproto ipv4 meta l4proto 47"),
        (
            SecurityRule("ingress", remote_cidr="10.1.0.0/16"),
            "meta nfproto ipv4 ip saddr 10.1.0.0/16",
        ),
        (SecurityRule("egress", remote_group="g"), "meta nfproto ipv4 ip daddr @g4-g"),
    ],
)
def test_rule_match(rule: SecurityRule, text: str):
    assert nft_filter.rule_match(rule) == text


def test_port_chains_check_the_bridge_first_and_drop_last():
    commands = nft_filter.stateful_chains("t", spec(SecurityRule("ingress", protocol="tcp")))
    ingress = [c for c in commands if c.startswith("add rule inet t i-port-1 ")]
    assert ingress[0].endswith('oifname != "brqnet-1" return')
    assert ingress[-1].endswith(" drop")
    assert not any(c.endswith("accept") for c in commands)


def test_tags_go_to_the_two_halves_of_the_mark():
    commands = "\n".join(nft_filter.port_filter("t", spec()))
    assert "egress { 0x00050000 : jump e-port-1 }" in commands
    assert "ingress { 0x0005 : jump i-port-1 }" in commands
    assert "meta mark set meta mark & 0xffff0000 | 0x0005" in commands


def test_anti_spoofing_pins_mac_and_addresses():
    rules = nft_filter.anti_spoofing("t", spec())
    assert f"add rule bridge t from-port-1 ether saddr != {MAC} drop" in rules
    assert "add rule bridge t from-port-1 ip saddr != { 10.0.0.5 } drop" in rules
    assert "add rule bridge t from-port-1 arp saddr ip != { 10.0.0.5 } drop" in rules


def test_a_port_without_addresses_sends_only_dhcp_discovery():
    rules = nft_filter.anti_spoofing("t", spec(ips=()))
    assert "add rule bridge t from-port-1 ether type ip drop" in rules
    assert any("ip saddr 0.0.0.0 udp sport 68 udp dport 67" in r for r in rules)


def test_group_members_split_by_family_without_duplicates():
    commands = nft_filter.members("t", "g", ("10.0.0.6", "fd00::1", "10.0.0.6", "10.0.0.5"))
    assert "add element inet t g4-g { 10.0.0.5, 10.0.0.6 }" in commands
    assert "add element inet t g6-g { fd00::1 }" in commands
    assert nft_filter.members("t", "g", ())[-1] == "flush set inet t g6-g"


# -- router NAT ----------------------------------------------------------------------------


def router(snat: bool = True) -> RouterSpec:
    gateway = RouterPort("gw-port-0000", "ext", MAC, "100.64.1.10/24")
    return RouterSpec(
        "r", (), gateway, "100.64.1.1", snat, (FloatingNat("100.64.1.20", "10.0.0.5"),)
    )


def test_nat_maps_floating_ips_both_ways_and_snats_the_rest():
    script = nft_nat.nat_script(router())
    assert "add rule ip nat prerouting ip daddr 100.64.1.20 dnat to 10.0.0.5" in script
    qg = '"qg-gw-port-000"'
    assert f"oifname {qg} ip saddr 10.0.0.5 snat to 100.64.1.20" in script
    assert script.index("snat to 100.64.1.20") < script.index(f"oifname {qg} snat to 100.64.1.10")


def test_nat_without_snat_keeps_only_floating_ips():
    assert "snat to 100.64.1.10" not in nft_nat.nat_script(router(snat=False))


def test_nat_of_a_router_without_gateway_is_empty_chains():
    script = nft_nat.nat_script(RouterSpec("r"))
    assert "add rule" not in script and "flush chain ip nat postrouting" in script


# -- dnsmasq -------------------------------------------------------------------------------


def dhcp(gateway: str | None = "10.0.0.1") -> DhcpSpec:
    subnets = (
        DhcpSubnet("s4", "10.0.0.0/24", gateway, ("10.0.0.53",), 600),
        DhcpSubnet("s6", "fd00::/64"),
    )
    leases = (
        DhcpLease("FA:16:3E:00:00:06", "10.0.0.6", "Web Server_1"),
        DhcpLease("fa:16:3e:00:00:07", "10.9.9.9", "elsewhere"),
        DhcpLease("fa:16:3e:00:00:08", "fd00::8", "v6"),
    )
    return DhcpSpec("n", "p", MAC, ("10.0.0.2/24", "fd00::2/64"), subnets, leases, 1450)


def test_hosts_file_holds_leases_of_served_subnets_with_clean_names():
    assert dhcp_config.hosts_file(dhcp()) == "fa:16:3e:00:00:06,10.0.0.6,web-server-1\n"


def test_options_carry_router_dns_and_mtu():
    assert dhcp_config.opts_file(dhcp()) == "tag:s-s4,3,10.0.0.1\ntag:s-s4,6,10.0.0.53\n26,1450\n"


def test_without_gateway_the_router_option_is_sent_empty():
    assert dhcp_config.opts_file(dhcp(gateway=None)).startswith("tag:s-s4,3\n")


def test_with_a_metadata_proxy_option_121_routes_it_through_the_dhcp_port_then_default():
    lines = dhcp_config.opts_file(dhcp(), metadata=True).splitlines()
    route = "tag:s-s4,option:classless-static-route,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1"
    assert route in lines and "tag:s-s4,3,10.0.0.1" in lines


def test_host_routes_go_in_option_121_and_without_gateway_no_default_route():
    subnet = replace(
        dhcp().subnets[0], gateway_ip=None, host_routes=(HostRoute("10.8.0.0/16", "10.0.0.9"),)
    )
    spec = replace(dhcp(), subnets=(subnet,))
    assert dhcp_config.static_routes(subnet, "10.0.0.2") == [
        ("169.254.169.254/32", "10.0.0.2"),
        ("10.8.0.0/16", "10.0.0.9"),
    ]
    plain = dhcp_config.opts_file(spec).splitlines()
    assert "tag:s-s4,option:classless-static-route,10.8.0.0/16,10.0.0.9" in plain


def test_no_routes_no_option_121():
    assert "classless" not in dhcp_config.opts_file(dhcp())


def test_the_metadata_proxy_stamps_the_network_and_replaces_forwarded_for():
    text = metadata_proxy.config_text("net-1", Path("/run/m.sock"), Path("/d/pid"))
    lines = [line.strip() for line in text.splitlines()]
    assert "bind 169.254.169.254:80" in lines and "server metadata unix@/run/m.sock" in lines
    stamp = lines.index("http-request set-header X-Nimbus-Network-ID net-1")
    assert lines.index("http-request del-header X-Nimbus-Network-ID") < stamp
    assert lines.index("http-request del-header X-Forwarded-For") < lines.index("option forwardfor")


def test_dnsmasq_serves_static_ipv4_ranges_and_no_dns():
    argv = dhcp_config.argv(dhcp(), "dnsmasq", dhcp_config.DnsmasqFiles(Path("/d")), "nobody")
    assert "--dhcp-range=set:s-s4,10.0.0.0,static,255.255.255.0,600s" in argv
    assert {"--port=0", "--no-resolv", "--no-hosts", "--interface=ns-p"} <= set(argv)
    assert not any("fd00" in arg for arg in argv)


def test_dnsmasq_drops_to_nobody_only_where_nobody_can_read():
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        Path(tmp).chmod(0o755)
        assert dnsmasq_user(state) == "nobody"
        Path(tmp).chmod(0o700)
        assert dnsmasq_user(state) == "root"


# -- checks, errors, fake ------------------------------------------------------------------


@pytest.mark.parametrize(
    "mac", ["fa:16:3e:00:00", "01:00:5e:00:00:01", "zz:16:3e:00:00:01", "FA-16-3E-00-00-01"]
)
def test_bad_macs_are_invalid(mac: str):
    with pytest.raises(InvalidSpec):
        validate.check_mac(mac)


def test_a_gateway_off_the_gateway_port_subnet_is_invalid():
    with pytest.raises(InvalidSpec):
        validate.check_router(RouterSpec("r", (), router().gateway, "100.64.2.1"))


def test_ids_that_would_escape_a_name_are_invalid():
    for bad in ("a b", "../x", 'x"; flush ruleset', ""):
        with pytest.raises(InvalidSpec):
            validate.check_id(bad)


def test_errors_translate_by_kind():
    assert isinstance(translate(NetlinkError(errno.EINVAL), "x"), InvalidSpec)
    assert isinstance(translate(NetlinkError(errno.EBUSY), "x"), BackendUnavailable)
    assert isinstance(translate(NftError("Error: syntax error, unexpected"), "x"), InvalidSpec)
    assert isinstance(translate(NftError("Error: Could not process rule"), "x"), BackendUnavailable)
    assert isinstance(translate(OSError(errno.EIO, "io"), "x"), BackendUnavailable)


def test_fake_fails_on_demand_then_works():
    fake = FakeNetworkDriver()
    fake.fail("set_group_members", BackendUnavailable("host busy"))
    with pytest.raises(BackendUnavailable):
        fake.set_group_members("g", ("10.0.0.5",))
    fake.set_group_members("g", ("10.0.0.5",))
    assert fake.state().groups == {"g"} and fake.groups["g"] == ("10.0.0.5",)
