"""The host's nftables rules for networks and port filters, as text (no I/O here).

Two tables of the same name, one per family, each a few base chains that dispatch through
maps keyed by device name, so a port's rules apply as soon as its tap appears and ports a
table does not know pass it untouched:

``bridge <table>`` sees the real bridge ports (taps, veths):
    prerouting  ``iifname vmap @from_port``: the sending port's anti-spoofing, which also
                writes its tag into the upper 16 bits of the packet mark.
    forward     ``oifname vmap @to_port``: writes the receiving port's tag into the lower 16.

``inet <table>`` (reached through br_netfilter, ``bridge-nf-call-iptables=1``) has
conntrack, but sees only the bridge as in- and output device:
    zone        conntrack zone by bridge (``@zones``), before conntrack looks packets up, so
                networks with overlapping addresses never share a connection.
    forward     the sender's egress chain (``@egress``, by the mark's upper half), then the
                receiver's ingress chain (``@ingress``, by its lower half); then the
                isolation of external bridges (``@ext_in``/``@ext_out``).

Per-port chains end allowed traffic with ``return``, not ``accept``: an ``accept`` would end
the base chain and skip the receiver's ingress chain. They begin by checking the bridge, so a
port of another table that happens to carry the same tag is not filtered here.
"""

from __future__ import annotations

import ipaddress

from activities.network.base import PortFilter, SecurityRule, bridge_name, tap_name

#: Where in the packet mark a port's tag goes when it sends and when it receives.
SOURCE_SHIFT = 16
DEST_MASK = 0xFFFF
SOURCE_MASK = 0xFFFF0000


def egress_chain(port_id: str) -> str:
    return f"e-{port_id}"


def ingress_chain(port_id: str) -> str:
    return f"i-{port_id}"


def from_chain(port_id: str) -> str:
    return f"from-{port_id}"


def to_chain(port_id: str) -> str:
    return f"to-{port_id}"


def isolation_chain(network_id: str) -> str:
    return f"x-{network_id}"


def group_set(group_id: str, version: int) -> str:
    return f"g{version}-{group_id}"


def skeleton(table: str) -> list[str]:
    """Both tables with their maps and base chains; harmless to repeat (base chains are
    flushed and refilled in the same transaction)."""
    inet, bridge = f"inet {table}", f"bridge {table}"
    return [
        f"add table {inet}",
        f"add map {inet} zones {{ typeof iifname : ct zone; }}",
        f"add map {inet} egress {{ type mark : verdict; }}",
        f"add map {inet} ingress {{ type mark : verdict; }}",
        f"add map {inet} ext_in {{ type ifname : verdict; }}",
        f"add map {inet} ext_out {{ type ifname : verdict; }}",
        f"add chain {inet} zone {{ type filter hook prerouting priority raw; policy accept; }}",
        f"add chain {inet} forward {{ type filter hook forward priority filter; policy accept; }}",
        f"flush chain {inet} zone",
        f"add rule {inet} zone ct zone set iifname map @zones",
        f"flush chain {inet} forward",
        f"add rule {inet} forward meta mark & {SOURCE_MASK:#010x} vmap @egress",
        f"add rule {inet} forward meta mark & {DEST_MASK:#06x} vmap @ingress",
        f"add rule {inet} forward iifname vmap @ext_in",
        f"add rule {inet} forward oifname vmap @ext_out",
        f"add table {bridge}",
        f"add map {bridge} from_port {{ type ifname : verdict; }}",
        f"add map {bridge} to_port {{ type ifname : verdict; }}",
        f"add chain {bridge} prerouting {{ type filter hook prerouting priority -300; policy accept; }}",  # noqa: E501
        f"add chain {bridge} forward {{ type filter hook forward priority -200; policy accept; }}",
        f"flush chain {bridge} prerouting",
        f"add rule {bridge} prerouting iifname vmap @from_port",
        f"flush chain {bridge} forward",
        f"add rule {bridge} forward oifname vmap @to_port",
    ]


def _quoted(name: str) -> str:
    return f'"{name}"'


def isolation(table: str, network_id: str) -> list[str]:
    """Cut an external network's bridge off from every other interface: nothing is
    forwarded between them in either direction (bridged traffic within it still flows)."""
    inet, bridge, chain = (
        f"inet {table}",
        _quoted(bridge_name(network_id)),
        isolation_chain(network_id),
    )
    return [
        f"add chain {inet} {chain}",
        f"flush chain {inet} {chain}",
        f"add rule {inet} {chain} iifname {bridge} oifname != {bridge} drop",
        f"add rule {inet} {chain} oifname {bridge} iifname != {bridge} drop",
        f"add element {inet} ext_in {{ {bridge} : jump {chain} }}",
        f"add element {inet} ext_out {{ {bridge} : jump {chain} }}",
    ]


def _set(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def _split_ips(ips: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """IPv4 and IPv6 addresses apart, each sorted once."""
    addresses = sorted({ipaddress.ip_address(ip) for ip in ips}, key=lambda a: (a.version, a))
    return [str(a) for a in addresses if a.version == 4], [
        str(a) for a in addresses if a.version == 6
    ]


def anti_spoofing(table: str, spec: PortFilter) -> list[str]:
    """The ``from-<port>`` chain: what the port may send at all, whatever its rules."""
    chain = f"bridge {table} {from_chain(spec.port_id)}"
    ipv4, ipv6 = _split_ips(spec.ips)
    tag = f"meta mark set {spec.tag << SOURCE_SHIFT:#010x}"
    rules = [
        f"ether saddr != {spec.mac.lower()} drop",
        f"arp saddr ether != {spec.mac.lower()} drop",
        f"arp saddr ip != {_set(ipv4)} drop" if ipv4 else "ether type arp drop",
        # A guest answering DHCP would hand out addresses on the network.
        "ether type ip udp sport 67 drop",
        # DHCP discovery: the one thing sent before the port has its address.
        f"ip saddr 0.0.0.0 udp sport 68 udp dport 67 {tag} return",
        f"ip saddr != {_set(ipv4)} drop" if ipv4 else "ether type ip drop",
        f"ip6 saddr != {_set(['::', 'fe80::/10', *ipv6])} drop",
        tag,
    ]
    return [f"add chain {chain}", f"flush chain {chain}", *(f"add rule {chain} {r}" for r in rules)]


def _remote(rule: SecurityRule, family: str) -> str:
    side = "saddr" if rule.direction == "ingress" else "daddr"
    if rule.remote_cidr is not None:
        return f"{family} {side} {ipaddress.ip_network(rule.remote_cidr)}"
    if rule.remote_group is not None:
        version = 4 if family == "ip" else 6
        return f"{family} {side} @{group_set(rule.remote_group, version)}"
    return ""


def _ports(low: int | None, high: int | None) -> str:
    low = high if low is None else low
    high = low if high is None else high
    return str(low) if low == high else f"{low}-{high}"


def _protocol(rule: SecurityRule, family: str) -> str:
    protocol = rule.protocol
    if protocol in ("icmp", "ipv6-icmp"):
        name = "icmp" if family == "ip" else "icmpv6"
        parts = [f"meta l4proto {'icmp' if family == 'ip' else 'ipv6-icmp'}"]
        if rule.port_min is not None:
            parts.append(f"{name} type {rule.port_min}")
        if rule.port_max is not None:
            parts.append(f"{name} code {rule.port_max}")
        return " ".join(parts)
    if protocol in ("tcp", "udp"):
        if rule.port_min is None and rule.port_max is None:
            return f"meta l4proto {protocol}"
        return f"{protocol} dport {_ports(rule.port_min, rule.port_max)}"
    return "" if protocol is None else f"meta l4proto {int(protocol)}"


def rule_match(rule: SecurityRule) -> str:
    """One security group rule as an nftables match (without its verdict)."""
    family = "ip" if rule.ethertype == "IPv4" else "ip6"
    nfproto = "ipv4" if family == "ip" else "ipv6"
    parts = [f"meta nfproto {nfproto}", _remote(rule, family), _protocol(rule, family)]
    return " ".join(p for p in parts if p)


def groups_of(spec: PortFilter) -> set[str]:
    return {r.remote_group for r in spec.rules if r.remote_group is not None}


def group_sets(table: str, group_id: str) -> list[str]:
    """The (idempotent) declaration of a group's two member sets."""
    return [
        f"add set inet {table} {group_set(group_id, 4)} {{ type ipv4_addr; }}",
        f"add set inet {table} {group_set(group_id, 6)} {{ type ipv6_addr; }}",
    ]


def stateful_chains(table: str, spec: PortFilter) -> list[str]:
    """The port's ``e-`` (what it sends) and ``i-`` (what it receives) chains."""
    bridge = _quoted(bridge_name(spec.network_id))
    commands = [c for group in sorted(groups_of(spec)) for c in group_sets(table, group)]
    for direction, chain, device, dhcp in (
        ("egress", egress_chain(spec.port_id), "iifname", "udp sport 68 udp dport 67"),
        ("ingress", ingress_chain(spec.port_id), "oifname", "udp sport 67 udp dport 68"),
    ):
        rules = [
            f"{device} != {bridge} return",
            "ct state established,related return",
            "ct state invalid drop",
            f"meta nfproto ipv4 {dhcp} return",
            *(f"{rule_match(r)} return" for r in spec.rules if r.direction == direction),
            "drop",
        ]
        full = f"inet {table} {chain}"
        commands += [f"add chain {full}", f"flush chain {full}"]
        commands += [f"add rule {full} {r}" for r in rules]
    return commands


def port_filter(table: str, spec: PortFilter) -> list[str]:
    """Every chain and map element of one filtered port (existing ones are replaced, so the
    caller first deletes the port's old map elements)."""
    tap = _quoted(tap_name(spec.port_id))
    inet, bridge = f"inet {table}", f"bridge {table}"
    to = f"bridge {table} {to_chain(spec.port_id)}"
    commands = [
        *anti_spoofing(table, spec),
        f"add chain {to}",
        f"flush chain {to}",
        f"add rule {to} meta mark set meta mark & {SOURCE_MASK:#010x} | {spec.tag:#06x}",
        *stateful_chains(table, spec),
        f"add element {bridge} from_port {{ {tap} : jump {from_chain(spec.port_id)} }}",
        f"add element {bridge} to_port {{ {tap} : jump {to_chain(spec.port_id)} }}",
        f"add element {inet} egress "
        f"{{ {spec.tag << SOURCE_SHIFT:#010x} : jump {egress_chain(spec.port_id)} }}",
        f"add element {inet} ingress {{ {spec.tag:#06x} : jump {ingress_chain(spec.port_id)} }}",
    ]
    return commands


def unfiltered_port(table: str, port_id: str) -> list[str]:
    """A port with port security off: only an empty marker chain, dispatched from nowhere."""
    chain = f"inet {table} {ingress_chain(port_id)}"
    return [f"add chain {chain}", f"flush chain {chain}"]


def delete_port_chains(table: str, port_id: str, present: set[str]) -> list[str]:
    """Delete those of the port's chains listed in ``present`` (as ``family chain``)."""
    wanted = [
        ("inet", egress_chain(port_id)),
        ("inet", ingress_chain(port_id)),
        ("bridge", from_chain(port_id)),
        ("bridge", to_chain(port_id)),
    ]
    return [f"delete chain {f} {table} {c}" for f, c in wanted if f"{f} {c}" in present]


def members(table: str, group_id: str, addresses: tuple[str, ...]) -> list[str]:
    """Replace a group's members (its sets are declared if missing)."""
    ipv4, ipv6 = _split_ips(addresses)
    commands = group_sets(table, group_id)
    for version, items in ((4, ipv4), (6, ipv6)):
        name = f"inet {table} {group_set(group_id, version)}"
        commands.append(f"flush set {name}")
        if items:
            commands.append(f"add element {name} {_set(items)}")
    return commands
