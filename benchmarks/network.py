"""Network driver benchmark: how long creating a network and plugging a port take on the
real Linux driver, as their number grows to 100; prints the per-operation median at 1, 10,
50 and 100 (of the operations since the previous mark) and the ratio of the last to the first.

    network  ensure_network (bridge + VXLAN) + ensure_dhcp (namespace, veth, dnsmasq) with
             one subnet and one lease
    port     a veth plugged into a network's bridge under a guest tap's name (as libvirt
             plugs a tap) + ensure_port_filter with two rules and a remote group

Runs as root with a table, state directory and VXLAN ids of its own, and deletes everything
it made, even when interrupted. Usage: ``python benchmarks/network.py [--count N]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyroute2 import IPRoute  # noqa: E402

from activities.network import devices  # noqa: E402
from activities.network.base import (  # noqa: E402
    DhcpLease,
    DhcpSpec,
    DhcpSubnet,
    NetworkSpec,
    PortFilter,
    SecurityRule,
    bridge_name,
    tap_name,
)
from activities.network.linux import LinuxNetworkDriver  # noqa: E402

MARKS = (1, 10, 50, 100)
SUBNET = DhcpSubnet("bench-subnet", "10.0.0.0/24", "10.0.0.1")
GROUP = "bench-group"
RULES = (
    SecurityRule("ingress", protocol="tcp", port_min=22, port_max=22),
    SecurityRule("ingress", protocol="tcp", remote_group=GROUP),
    SecurityRule("egress"),
)


def free_segment() -> int:
    """A VNI no VXLAN device on this host has yet."""
    while True:
        segment = random.randint(20000, 60000)
        if not Path(f"/sys/class/net/vxlan-{segment}").exists():
            return segment


def random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def create_network(driver: LinuxNetworkDriver) -> NetworkSpec:
    spec = NetworkSpec(str(uuid.uuid4()), free_segment())
    lease = DhcpLease(random_mac(), "10.0.0.5", "guest")
    dhcp = DhcpSpec(spec.network_id, str(uuid.uuid4()), random_mac(), ("10.0.0.2/24",), (SUBNET,))
    driver.ensure_network(spec)
    driver.ensure_dhcp(DhcpSpec(**{**dhcp.__dict__, "leases": (lease,)}))
    return spec


def plug_port(driver: LinuxNetworkDriver, network: NetworkSpec, tag: int, ports: list[str]) -> None:
    port_id = str(uuid.uuid4())
    tap = tap_name(port_id)
    ports.append(port_id)
    with IPRoute() as ipr:
        ipr.link("add", ifname=tap, kind="veth", peer=f"pb{port_id[:10]}")
        bridge = int(ipr.link_lookup(ifname=bridge_name(network.network_id))[0])
        devices.plug(ipr, tap, bridge, network.mtu)
    ip = f"10.0.{tag // 250}.{tag % 250 + 3}"
    spec = PortFilter(port_id, network.network_id, network.segment, tag, random_mac(), (ip,), RULES)
    driver.ensure_port_filter(spec)


def medians(times: list[float]) -> dict[int, float]:
    """The median of the operations from the previous mark to each mark, in ms."""
    result, start = {}, 0
    for mark in (m for m in MARKS if m <= len(times)):
        result[mark] = statistics.median(times[start:mark]) * 1000
        start = mark
    return result


def report(name: str, times: list[float]) -> None:
    by_mark = medians(times)
    cells = "  ".join(f"@{mark}: {ms:6.1f} ms" for mark, ms in by_mark.items())
    ratio = by_mark[max(by_mark)] / by_mark[min(by_mark)]
    print(f"{name:8} {cells}  ratio last/first {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    count = parser.parse_args().count
    work = Path(tempfile.mkdtemp(prefix="nimbus-netbench-"))
    work.chmod(0o755)
    driver = LinuxNetworkDriver(work / "state", table=f"bench{uuid.uuid4().hex[:8]}")
    networks: list[NetworkSpec] = []
    ports: list[str] = []
    try:
        driver.set_group_members(GROUP, ("10.0.0.5", "10.0.0.6"))
        net_times = [timed(lambda: networks.append(create_network(driver))) for _ in range(count)]
        port_times = [
            timed(lambda i=i: plug_port(driver, networks[i % len(networks)], i + 1, ports))
            for i in range(count)
        ]
        report("network", net_times)
        report("port", port_times)
    finally:
        clean_up(driver, networks, ports)
        shutil.rmtree(work, ignore_errors=True)


def clean_up(driver: LinuxNetworkDriver, networks: list[NetworkSpec], ports: list[str]) -> None:
    """Delete every port, network and the group the run made (the tables go with the last)."""
    with IPRoute() as ipr:
        for port_id in ports:
            devices.delete(ipr, tap_name(port_id))
    for port_id in ports:
        driver.remove_port_filter(port_id)
    driver.delete_group(GROUP)
    for network in networks:
        driver.delete_dhcp(network.network_id)
        driver.delete_network(network.network_id)


if __name__ == "__main__":
    main()
