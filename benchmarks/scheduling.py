"""Scheduling: how long a placement decision takes, and how many boots a second the
control plane completes with 1, 2 and 3 hosts, on the fake drivers (orchestration
only: API, Temporal workflows, activities and the database; no guest runs).

    decide     ``nimbus.scheduler.place`` alone, over 3 and over 300 host states
    claim      the placement transaction of a boot (``activities.placement.claim``):
               the hosts' rows bumped and read, the usage summed, the host recorded
    boots/s    N servers created at once through the compute API (one request each, from
               N client threads) until every boot workflow has closed, each host a
               worker of its own (its own task queue and fake hypervisor)

Prints medians, and each figure's ratio to the one-host run of the same process. Starts
a Temporal dev server and a SQLite database of its own in a temporary folder.

    python benchmarks/scheduling.py [--boots N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.hypervisor.base import CephAccess  # noqa: E402
from activities.hypervisor.fake import FakeHypervisor  # noqa: E402
from activities.network.fake import FakeNetworkDriver  # noqa: E402
from activities.objectstore.fake import FakeObjectStoreAdmin  # noqa: E402
from activities.placement import claim  # noqa: E402
from activities.storage.fake_block import FakeBlockStore  # noqa: E402
from launcher.drivers import HostDrivers  # noqa: E402
from nimbus.config import Settings  # noqa: E402
from nimbus.db import Flavor, Host, Server, utcnow  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402
from nimbus.scheduler import HostState, Request, place  # noqa: E402
from tests.support.stack import Stack, WorkerThread, make_stack  # noqa: E402
from tests.support.temporal_server import temporal_dev_server  # noqa: E402
from workflows.common import server_workflow_id  # noqa: E402

CEPH = CephAccess(monitors=("127.0.0.1:6789",))


def _drivers(store: FakeBlockStore, objects: FakeObjectStoreAdmin) -> HostDrivers:
    return HostDrivers(FakeHypervisor(ceph=CEPH), store, FakeNetworkDriver(), objects)


def _states(n: int) -> list[HostState]:
    return [
        HostState(f"host-{i:03d}", 64, 262144, 4.0, 1.0, 512, i % 50, 1024 * (i % 70), "nova", True)
        for i in range(n)
    ]


def decide(n: int, rounds: int = 2000) -> float:
    """Median seconds of one decision over ``n`` hosts."""
    hosts, request = _states(n), Request(2, 4096)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        place(request, hosts)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _stack(folder: Path, address: str, hosts: int) -> tuple[Stack, list[WorkerThread]]:
    host, port = address.split(":")
    settings = Settings(
        data_dir=folder,
        temporal_host=host,
        temporal_port=int(port),
        host_name="bench-0",
        power_sync_seconds=0.5,
        # Room for every boot on each host: throughput, not refusals, is measured.
        cpu_allocation_ratio=1000.0,
        ram_allocation_ratio=1000.0,
    )
    image = folder / "guest.raw"
    image.write_bytes(b"\0" * 4096)
    store, objects = FakeBlockStore(), FakeObjectStoreAdmin()
    stack = make_stack(settings, _drivers(store, objects), image)
    extra = [
        WorkerThread(replace(settings, host_name=f"bench-{i}"), _drivers(store, objects)).start()
        for i in range(1, hosts)
    ]
    while True:
        with stack.db.session() as s:
            if s.query(Host).count() == hosts:
                break
        time.sleep(0.05)
    return stack, extra


def _quota(stack: Stack, token: str, boots: int) -> None:
    project = stack.token_info(token)["project"]["id"]
    body = {"quota_set": {"instances": boots * 4, "cores": boots * 4, "ram": 1 << 30}}
    headers = {"X-Auth-Token": stack.token("admin")}
    stack.client.put(f"/compute/v2.1/os-quota-sets/{project}", json=body, headers=headers)


def claim_time(stack: Stack, rounds: int = 200) -> float:
    """Median seconds of the placement transaction, the hosts of ``stack`` registered."""
    times = []
    with stack.db.session() as s:
        flavor = s.get(Flavor, "1")
        assert flavor is not None
        s.expunge(flavor)
    for i in range(rounds):
        with stack.db.session() as s:
            server = Server(
                id=f"00000000-0000-0000-0000-{i:012d}",
                project_id="bench",
                user_id="bench",
                name="b",
                flavor_id="1",
                image_id="none",
                created_at=utcnow(),
            )
            s.add(server)
            s.flush()
            start = time.perf_counter()
            claim(s, server, flavor)
            times.append(time.perf_counter() - start)
            s.delete(server)
    return statistics.median(times)


def boots_per_second(stack: Stack, boots: int) -> float:
    token = stack.token("alice")
    _quota(stack, token, boots)
    image = stack.image_id()
    headers = {"X-Auth-Token": token}

    def create(i: int) -> str:
        body = {"server": {"name": f"b{i}", "flavorRef": "1", "imageRef": image,
                           "networks": "none"}}  # fmt: skip
        answer = stack.client.post(
            "/compute/v2.1/servers",
            json=body,
            headers={**headers, "OpenStack-API-Version": "compute 2.79"},
        )
        created = dict(answer.json or {})
        assert answer.status_code == 202, created
        return str(created["server"]["id"])

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(boots, 16)) as pool:
        ids = list(pool.map(create, range(boots)))
    for server_id in ids:
        stack.finish(server_workflow_id(server_id, "boot"), timeout=600)
    elapsed = time.perf_counter() - start
    with stack.db.session() as s:
        active = s.query(Server).filter(Server.id.in_(ids), Server.status == "ACTIVE").count()
    assert active == boots, f"{active} of {boots} ACTIVE"
    return boots / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boots", type=int, default=30)
    args = parser.parse_args()
    few, many = decide(3), decide(300)
    print(f"decide (3 hosts)     {few * 1e6:8.1f} µs")
    print(f"decide (300 hosts)   {many * 1e6:8.1f} µs   x{many / few:.1f}")
    results: dict[int, tuple[float, float]] = {}
    with (
        tempfile.TemporaryDirectory() as temp,
        temporal_dev_server(Path(temp) / "temporal.log") as address,
    ):
        for hosts in (1, 2, 3):
            folder = Path(temp) / f"hosts-{hosts}"
            folder.mkdir()
            stack, extra = _stack(folder, address, hosts)
            try:
                results[hosts] = (claim_time(stack), boots_per_second(stack, args.boots))
            finally:
                for worker in (*extra, stack.worker):
                    worker.stop()
                stack.bridge.close()
    base_claim, base_rate = results[1]
    print(f"{'hosts':>5} {'claim ms':>9} {'ratio':>6} {'boots/s':>8} {'ratio':>6}")
    for hosts, (claimed, rate) in results.items():
        print(
            f"{hosts:>5} {claimed * 1e3:9.2f} {claimed / base_claim:6.2f}"
            f" {rate:8.2f} {rate / base_rate:6.2f}"
        )
    print(f"({args.boots} boots a run, {os.cpu_count()} CPUs, SQLite, fake drivers)")
    return 0


if __name__ == "__main__":
    exit_now(main())
