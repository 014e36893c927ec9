"""A router's NAT as one nftables script for its namespace (text only, no I/O).

The script refills the router's ``ip nat`` chains in one transaction (declare, flush, add),
so floating IPs and SNAT the spec dropped disappear with no moment without NAT; the base
chains stay registered, which spares the kernel re-hooking them.
"""

from __future__ import annotations

import ipaddress

from activities.network.base import RouterSpec, short

TABLE = "ip nat"


def gateway_device(port_id: str) -> str:
    return f"qg-{short(port_id)}"


def interface_device(port_id: str) -> str:
    return f"qr-{short(port_id)}"


def nat_script(spec: RouterSpec) -> str:
    """The router's whole NAT table: DNAT floating->fixed coming in, SNAT fixed->floating
    going out by the gateway, and SNAT of everything else leaving by it when ``snat``."""
    prerouting: list[str] = []
    postrouting: list[str] = []
    if spec.gateway is not None:
        qg = f'"{gateway_device(spec.gateway.port_id)}"'
        for nat in spec.floating:
            prerouting.append(f"ip daddr {nat.floating_ip} dnat to {nat.fixed_ip}")
            postrouting.append(f"oifname {qg} ip saddr {nat.fixed_ip} snat to {nat.floating_ip}")
        if spec.snat:
            gateway_ip = ipaddress.ip_interface(spec.gateway.address).ip
            postrouting.append(f"oifname {qg} snat to {gateway_ip}")
    chains = (("prerouting", "dstnat", prerouting), ("postrouting", "srcnat", postrouting))
    lines = [f"add table {TABLE}"]
    for chain, priority, rules in chains:
        lines += [
            f"add chain {TABLE} {chain} "
            f"{{ type nat hook {chain} priority {priority}; policy accept; }}",
            f"flush chain {TABLE} {chain}",
            *(f"add rule {TABLE} {chain} {rule}" for rule in rules),
        ]
    return "\n".join(lines) + "\n"
