"""Links, addresses and routes through pyroute2, each function converging one thing.

Every function takes an open ``IPRoute``, so the same code works on the host and, inside a
``netns.run_in`` thread, in a namespace. Missing devices are created, differing attributes
changed, and deleting a missing device is success.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from activities.network import netns

ZERO_MAC = "00:00:00:00:00:00"
VXLAN_PORT = 4789
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def get(ipr: IPRoute, name: str) -> Any | None:
    """The link called ``name``, or None."""
    try:
        return ipr.link("get", ifname=name)[0]
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise


def names(ipr: IPRoute) -> set[str]:
    """Every link ``ipr`` sees (a dump: for a namespace's few devices)."""
    return {str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()}


def host_names() -> set[str]:
    """Every link of the host, from sysfs (a netlink dump of hundreds takes tens of ms)."""
    return set(os.listdir("/sys/class/net"))


def info(link: Any, attr: str) -> Any:
    """An ``IFLA_INFO_DATA`` attribute of a link (its kind's own settings), or None."""
    linkinfo = link.get_attr("IFLA_LINKINFO")
    data = None if linkinfo is None else linkinfo.get_attr("IFLA_INFO_DATA")
    return None if data is None else data.get_attr(attr)


def kind(link: Any) -> str | None:
    linkinfo = link.get_attr("IFLA_LINKINFO")
    return None if linkinfo is None else linkinfo.get_attr("IFLA_INFO_KIND")


def delete(ipr: IPRoute, name: str) -> None:
    """Delete the link ``name`` (a veth takes its peer with it). Missing is success."""
    try:
        ipr.link("del", ifname=name)
    except NetlinkError as exc:
        if exc.code != errno.ENODEV:
            raise


def no_ipv6(name: str) -> None:
    """No IPv6 address on a host-side device: guests must not reach the host through it."""
    if Path("/proc/sys/net/ipv6").exists():
        netns.write_sysctl(f"net/ipv6/conf/{name}/disable_ipv6", "1")


def ensure_bridge(ipr: IPRoute, name: str, mtu: int) -> int:
    """A bridge that hands IPv4/IPv6 to the inet hooks (br_netfilter), up; its index."""
    if get(ipr, name) is None:
        ipr.link("add", ifname=name, kind="bridge")
    index = int(ipr.link_lookup(ifname=name)[0])
    ipr.link("set", index=index, kind="bridge", br_nf_call_iptables=1, br_nf_call_ip6tables=1)
    ipr.link("set", index=index, mtu=mtu, state="up")
    return index


def ensure_vxlan(
    ipr: IPRoute, name: str, vni: int, local: str, mtu: int, master: int
) -> tuple[int, bool]:
    """A unicast VXLAN (no group, no learning) enslaved to ``master``, replaced if its VNI
    or local address differ; its index, and whether it was created now."""
    link = get(ipr, name)
    if link is not None and (
        kind(link) != "vxlan"
        or info(link, "IFLA_VXLAN_ID") != vni
        or info(link, "IFLA_VXLAN_LOCAL") != local
    ):
        delete(ipr, name)
        link = None
    if link is None:
        ipr.link(
            "add",
            ifname=name,
            kind="vxlan",
            vxlan_id=vni,
            vxlan_local=local,
            vxlan_port=VXLAN_PORT,
            vxlan_learning=0,
        )
    index = int(ipr.link_lookup(ifname=name)[0])
    ipr.link("set", index=index, mtu=mtu, master=master, state="up")
    return index, link is None


def sync_flood(name: str, index: int, peers: tuple[str, ...], fresh: bool) -> None:
    """Exactly one all-zeros flood entry per peer VTEP on VXLAN device ``name``. A ``fresh``
    device has none yet; otherwise its entries are read with ``bridge fdb show dev`` (the
    kernel filters by device there, where pyroute2 reads every bridge's table)."""
    present: set[str] = set()
    if not fresh:
        out = subprocess.run(
            ["bridge", "-j", "fdb", "show", "dev", name], check=True, capture_output=True
        ).stdout
        present = {e["dst"] for e in json.loads(out or b"[]") if e["mac"] == ZERO_MAC}
    with IPRoute() as ipr:
        for peer in present - set(peers):
            ipr.fdb("del", ifindex=index, lladdr=ZERO_MAC, dst=peer)
        for peer in sorted(set(peers) - present):
            ipr.fdb("append", ifindex=index, lladdr=ZERO_MAC, dst=peer)


def bridge_ports(bridge: str) -> list[str]:
    """The devices plugged into ``bridge`` (from sysfs: a netlink dump reads every link)."""
    try:
        return sorted(os.listdir(f"/sys/class/net/{bridge}/brif"))
    except FileNotFoundError:
        return []


def is_vxlan(name: str) -> bool:
    try:
        return "DEVTYPE=vxlan" in Path(f"/sys/class/net/{name}/uevent").read_text()
    except FileNotFoundError:
        return False


def ensure_veth(ipr: IPRoute, host: str, peer: str, namespace: str) -> None:
    """A veth ``host`` on the host whose other end ``peer`` is in ``namespace``. A ``host``
    whose peer is not there (left over, or the namespace was recreated) is replaced."""
    if get(ipr, host) is not None:
        if netns.run_in(namespace, lambda: _exists_here(peer)):
            return
        delete(ipr, host)
    ipr.link("add", ifname=host, kind="veth", peer={"ifname": peer, "net_ns_fd": namespace})


def _exists_here(name: str) -> bool:
    with IPRoute() as ipr:
        return get(ipr, name) is not None


def plug(ipr: IPRoute, name: str, master: int, mtu: int) -> None:
    """Enslave link ``name`` to bridge ``master`` with ``mtu``, and bring it up."""
    index = int(ipr.link_lookup(ifname=name)[0])
    ipr.link("set", index=index, master=master, mtu=mtu, state="up")


def configure(ipr: IPRoute, name: str, mac: str, mtu: int, addresses: list[Interface]) -> int:
    """Give link ``name`` exactly this MAC, MTU and set of addresses, and bring it up."""
    link = ipr.link("get", ifname=name)[0]
    index = int(link["index"])
    if link.get_attr("IFLA_ADDRESS") != mac.lower():
        ipr.link("set", index=index, state="down")
        ipr.link("set", index=index, address=mac.lower())
    ipr.link("set", index=index, mtu=mtu, state="up")
    sync_addresses(ipr, index, addresses)
    return index


def sync_addresses(ipr: IPRoute, index: int, wanted: list[Interface]) -> None:
    """Exactly ``wanted`` on link ``index`` (IPv6 link-local addresses aside)."""
    present: dict[Interface, Any] = {}
    for message in ipr.get_addr(index=index):
        address = ipaddress.ip_interface(
            f"{message.get_attr('IFA_ADDRESS')}/{message['prefixlen']}"
        )
        if not (address.version == 6 and address.is_link_local):  # the kernel's own
            present[address] = message
    for address in set(present) - set(wanted):
        ipr.addr("del", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
    for address in wanted:
        if address not in present:
            ipr.addr(
                "add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen
            )


def sync_default_route(ipr: IPRoute, gateway: str | None) -> None:
    """The namespace's IPv4 default route goes via ``gateway``, or there is none."""
    routes = ipr.get_routes(family=2, dst_len=0, table=254)
    current = {r.get_attr("RTA_GATEWAY") for r in routes if r.get_attr("RTA_DST") is None}
    if current == ({gateway} if gateway else set()):
        return
    if current:
        ipr.route("del", dst="0.0.0.0/0", table=254)
    if gateway:
        ipr.route("add", dst="0.0.0.0/0", gateway=gateway)
