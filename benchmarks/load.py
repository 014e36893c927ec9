"""Load: Rally's ``NovaServers.boot_and_delete_server`` through openstacksdk on the real
drivers, and many concurrent boots on the fake drivers (orchestration only).

    real   a throw-away cloud (``nimbus up``: libvirt/QEMU, Ceph, Temporal); at each
           concurrency C (2, 4 and 8 by default), C client threads run 2*C iterations
           between them, as Rally's constant runner does. One iteration: create a server
           (m1.tiny, the default image, no network), wait for ACTIVE, delete it, wait until
           it is gone, each wait polling every 0.2 s as openstacksdk's ``wait_for_*`` do.
    fake   N boots (50 by default) posted at once through the compute API of a stack on
           the fake drivers (API, Temporal workflows, activities, database; no guest),
           each timed from its POST until its row is ACTIVE.

Prints, per run, the iterations, the failures, the medians and maxima of each phase and
the throughput, with each figure's ratio to the first run of the same table.

    python benchmarks/load.py [--concurrency 2 4 8] [--fake-boots 50] [--skip-real]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import throwaway_cloud  # noqa: E402
from benchmarks.scheduling import _quota, _stack  # noqa: E402
from nimbus.config import Settings  # noqa: E402
from nimbus.db import Server  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402
from tests.support.temporal_server import temporal_dev_server  # noqa: E402

POLL = 0.2


@dataclass
class Run:
    """One table row: the durations of each phase of the iterations that succeeded."""

    label: str
    iterations: int = 0
    failures: list[str] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)
    wall: float = 0.0

    def add(self, phase: str, seconds: float) -> None:
        self.phases.setdefault(phase, []).append(seconds)

    def throughput(self) -> float:
        """Iterations that succeeded, a minute."""
        done = self.iterations - len(self.failures)
        return 60 * done / self.wall if self.wall else 0.0


def _connection(settings: Settings) -> Any:
    import openstack

    os.environ["OS_CLIENT_CONFIG_FILE"] = str(settings.data_dir / "clouds.yaml")
    return openstack.connect(cloud="nimbus")


def _boot_and_delete(conn: Any, image_id: str, flavor_id: str, run: Run, lock: Any) -> None:
    name = f"load-{uuid.uuid4().hex[:8]}"
    try:
        start = time.monotonic()
        server = conn.compute.create_server(
            name=name, image_id=image_id, flavor_id=flavor_id, networks="none"
        )
        server = conn.compute.wait_for_server(server, status="ACTIVE", interval=POLL, wait=600)
        active = time.monotonic()
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, interval=POLL, wait=600)
        gone = time.monotonic()
        with lock:
            run.add("boot", active - start)
            run.add("delete", gone - active)
            run.add("iteration", gone - start)
    except Exception as exc:  # noqa: BLE001 - a failed iteration is counted, not fatal
        with lock:
            run.failures.append(f"{type(exc).__name__}: {exc}")


def real_runs(concurrencies: list[int]) -> list[Run]:
    runs = []
    with throwaway_cloud() as settings:
        conn = _connection(settings)
        image_id = conn.image.find_image("nimbus-guest", ignore_missing=False).id
        flavor_id = conn.compute.find_flavor("m1.tiny", ignore_missing=False).id
        for concurrency in concurrencies:
            run, lock = Run(f"concurrency {concurrency}"), threading.Lock()
            run.iterations = 2 * concurrency
            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                for _ in range(run.iterations):
                    pool.submit(_boot_and_delete, conn, image_id, flavor_id, run, lock)
            run.wall = time.monotonic() - start
            runs.append(run)
    return runs


def fake_run(boots: int) -> Run:
    run = Run(f"{boots} at once")
    run.iterations = boots
    with (
        tempfile.TemporaryDirectory() as temp,
        temporal_dev_server(Path(temp) / "temporal.log") as address,
    ):
        folder = Path(temp) / "stack"
        folder.mkdir()
        stack, _ = _stack(folder, address, 1)
        try:
            token = stack.token("alice")
            _quota(stack, token, boots)
            image = stack.image_id()
            headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"}
            posted: dict[str, float] = {}

            def create(i: int) -> None:
                body = {"server": {"name": f"f{i}", "flavorRef": "1", "imageRef": image,
                                   "networks": "none"}}  # fmt: skip
                start = time.monotonic()
                answer = stack.client.post("/compute/v2.1/servers", json=body, headers=headers)
                if answer.status_code != 202:
                    run.failures.append(f"{answer.status_code}: {answer.json}")
                    return
                server_id = str((answer.json or {})["server"]["id"])
                posted[server_id] = start
                run.add("POST", time.monotonic() - start)

            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=min(boots, 16)) as pool:
                list(pool.map(create, range(boots)))
            active: dict[str, float] = {}
            deadline = time.monotonic() + 600
            while len(active) + len(run.failures) < boots and time.monotonic() < deadline:
                with stack.db.session() as s:
                    rows = s.query(Server.id, Server.status).filter(Server.id.in_(list(posted)))
                    now = time.monotonic()
                    for server_id, status in rows:
                        if server_id in active:
                            continue
                        if status == "ACTIVE":
                            active[server_id] = now
                        elif status == "ERROR":
                            active[server_id] = now
                            run.failures.append(f"{server_id} ERROR")
                time.sleep(0.02)
            run.wall = time.monotonic() - start
            for server_id, seen in active.items():
                run.add("boot", seen - posted[server_id])
            missing = set(posted) - set(active)
            run.failures += [f"{server_id} never ACTIVE" for server_id in sorted(missing)]
        finally:
            stack.worker.stop()
            stack.bridge.close()
    return run


def _print(title: str, runs: list[Run]) -> None:
    print(title)
    phases = list(runs[0].phases) if runs and runs[0].phases else []
    head = f"{'run':<16} {'iter':>5} {'fail':>5}"
    for phase in phases:
        head += f" {phase + ' med':>12} {'max':>7}"
    head += f" {'per min':>8} {'ratio':>6}"
    print(head)
    base = runs[0]
    for run in runs:
        line = f"{run.label:<16} {run.iterations:>5} {len(run.failures):>5}"
        for phase in phases:
            values = run.phases.get(phase) or [float("nan")]
            median = statistics.median(values)
            ratio = median / statistics.median(base.phases[phase])
            line += f" {median:7.2f}s x{ratio:<3.1f} {max(values):6.2f}s"
        rate = run.throughput()
        base_rate = base.throughput() or float("nan")
        line += f" {rate:8.1f} {rate / base_rate:6.2f}"
        print(line)
        for failure in run.failures[:3]:
            print(f"    failed: {failure}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--fake-boots", type=int, default=50)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    failures = 0
    if not args.skip_real:
        runs = real_runs(args.concurrency)
        _print("boot_and_delete_server, openstacksdk, real drivers (m1.tiny, no network)", runs)
        failures += sum(len(r.failures) for r in runs)
    fake = fake_run(args.fake_boots)
    _print("concurrent boots, compute API, fake drivers (orchestration only)", [fake])
    failures += len(fake.failures)
    print(f"({os.cpu_count()} CPUs; failures: {failures})")
    return 1 if failures else 0


if __name__ == "__main__":
    exit_now(main())
