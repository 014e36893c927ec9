"""Networking through the whole cloud: the time a client waits for a network with a subnet,
and for a port, as their number grows to 100 (API -> workflow -> activities -> Linux).

    network  POST /networks then POST /subnets (two workflows: the bridge and VXLAN, then
             the DHCP namespace and dnsmasq)
    port     POST /ports on one network (a workflow: the DHCP lease added, dnsmasq
             reloaded, the default group's member set updated)

Prints the median of the operations since the previous mark at 1, 10, 50 and 100, and the
ratios of the last mark to the first and to the second (the baselines of the same run; the
very first operation of a fresh cloud is a single sample, often an outlier). Starts a throw-away
cloud of its own (``nimbus up``) and removes it, devices included.

    python benchmarks/network_api.py [--count N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import throwaway_cloud  # noqa: E402
from nimbus.client import NimbusClient  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402

MARKS = (1, 10, 50, 100)
NET = "/networking/v2.0"


def timed(call: Callable[[], None]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def post(client: NimbusClient, path: str, body: dict[str, object]) -> dict[str, object]:
    response = client.call("POST", f"{NET}/{path}", json=body)
    if response.status_code != 201:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
    return dict(response.json())


def network_with_subnet(client: NimbusClient, i: int) -> None:
    net = post(client, "networks", {"network": {"name": f"bench-{i}"}})
    network_id = net["network"]["id"]  # type: ignore[index]
    cidr = f"10.{i // 256}.{i % 256}.0/24"
    post(client, "subnets", {"subnet": {"network_id": network_id, "cidr": cidr, "ip_version": 4}})


def medians(samples: list[float], marks: tuple[int, ...]) -> list[float]:
    """The median of each run of samples ending at a mark (1-based counts)."""
    out, start = [], 0
    for mark in marks:
        out.append(statistics.median(samples[start:mark]))
        start = mark
    return out


def report(name: str, samples: list[float], marks: tuple[int, ...]) -> None:
    values = medians(samples, marks)
    cells = "  ".join(f"{m:>3}: {v * 1000:7.1f} ms" for m, v in zip(marks, values, strict=True))
    ratios = f"ratio {marks[-1]}/{marks[0]}: {values[-1] / values[0]:.2f}"
    if len(marks) > 2:
        ratios += f", {marks[-1]}/{marks[1]}: {values[-1] / values[1]:.2f}"
    print(f"{name:<22} {cells}   {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    marks = tuple(m for m in MARKS if m <= args.count)
    with throwaway_cloud() as settings:
        client = NimbusClient(settings.data_dir / "clouds.yaml", timeout=120)
        networks = [timed(lambda i=i: network_with_subnet(client, i)) for i in range(args.count)]
        target = post(client, "networks", {"network": {"name": "ports"}})["network"]
        network_id = target["id"]  # type: ignore[index]
        body = {"subnet": {"network_id": network_id, "cidr": "10.250.0.0/16", "ip_version": 4}}
        post(client, "subnets", body)
        port = {"port": {"network_id": network_id}}
        ports = [timed(lambda: post(client, "ports", port) and None) for _ in range(args.count)]
        print(f"networking through the API, {args.count} of each (median per operation):")
        report("network + subnet", networks, marks)
        report("port (DHCP lease)", ports, marks)


if __name__ == "__main__":
    main()
    exit_now(0)
