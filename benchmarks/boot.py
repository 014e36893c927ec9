"""Boot benchmark: POST -> ACTIVE and POST -> NIMBUS READY through Nimbus, beside the same
guest booted directly through libvirt, in one run; prints medians, the orchestration
overhead and the ratios, then where a boot workflow's time goes.

Like for like: both guests get the same RBD clone of the same image, the same flavor, a
config drive built by the same code and a NIC on the same tenant network's bridge. Nimbus
also binds the port (DHCP lease, security-group filter), which the direct boot does
without. Both guests' readiness is read from their console log files on the host, and
Nimbus's ACTIVE from the time its row records, so that watching costs neither boot
anything; the boots alternate, so that whatever else the machine does weighs on both.

Starts a throw-away cloud of its own (``nimbus up`` on free ports in a temporary data
directory) and stops it afterwards. Usage: ``python benchmarks/boot.py [--boots N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.compute import (  # noqa: E402
    ConfigDriveInput,
    NicInput,
    StartDomainInput,
    domain_spec,
)
from activities.hypervisor.base import PowerState  # noqa: E402
from activities.storage.block import VMS, RbdRef, image_ref  # noqa: E402
from benchmarks.common import throwaway_cloud, wait  # noqa: E402
from benchmarks.timeline import fetch, summary, timeline, total  # noqa: E402
from launcher.drivers import real_block_store, real_drivers  # noqa: E402
from nimbus.client import NimbusClient  # noqa: E402
from nimbus.config import Settings  # noqa: E402
from nimbus.db import Database, Server  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402
from workflows.common import server_workflow_id  # noqa: E402

READY = "NIMBUS READY"
NET = "/networking/v2.0"

#: What one boot measured: seconds from its start to the domain running (ACTIVE through
#: Nimbus) and to the guest printing READY.
Times = tuple[float, float]


def _ready(log: Path) -> bool:
    return log.exists() and READY in log.read_text(errors="replace")


def tenant_network(api: NimbusClient) -> str:
    """A network with a subnet for the benchmark's guests; its id."""
    r = api.call("POST", f"{NET}/networks", json={"network": {"name": "bench"}})
    network_id = str(r.json()["network"]["id"])
    subnet = {"network_id": network_id, "cidr": "10.77.0.0/24", "ip_version": 4}
    r = api.call("POST", f"{NET}/subnets", json={"subnet": subnet})
    assert r.status_code == 201, r.text
    return network_id


class NimbusBoot:
    """Boots through the REST API exactly as a client does, onto the tenant network."""

    def __init__(self, settings: Settings, api: NimbusClient, network_id: str) -> None:
        self.api, self.network_id = api, network_id
        self.instances = settings.instances_dir
        self.db = Database(settings.db_url)
        self.image = api.image_id("nimbus-guest")
        #: Each boot's workflow id, for the breakdown of where its time went.
        self.workflows: list[str] = []

    def _status(self, sid: str) -> str:
        return str(self.api.call("GET", f"/compute/v2.1/servers/{sid}").json()["server"]["status"])

    def _launched_at(self, sid: str) -> float:
        """When the server was recorded ACTIVE (epoch seconds), from its row: the client
        polls at a client's pace, and the row says to the microsecond when it happened."""
        with self.db.session() as s:
            server = s.get(Server, sid)
            assert server is not None and server.launched_at is not None
            return server.launched_at.replace(tzinfo=dt.UTC).timestamp()

    def boot(self, name: str) -> Times:
        body = {
            "server": {
                "name": name,
                "flavorRef": "1",
                "imageRef": self.image,
                "networks": [{"uuid": self.network_id}],
            }
        }
        t0, wall = time.monotonic(), time.time()
        r = self.api.call("POST", "/compute/v2.1/servers", json=body)
        sid = r.json()["server"]["id"]
        ready = wait(lambda: _ready(self.instances / sid / "console.log"))
        wait(lambda: self._status(sid) == "ACTIVE", interval=0.5)
        active = self._launched_at(sid) - wall
        self.workflows.append(server_workflow_id(sid, "boot"))
        self.api.call("DELETE", f"/compute/v2.1/servers/{sid}")
        wait(lambda: self.api.call("GET", f"/compute/v2.1/servers/{sid}").status_code == 404)
        return active, ready - t0


class DirectBoot:
    """The same guest straight through libvirt: the same clone of the same image, the
    same flavor, a config drive and a NIC on the same bridge, the domain XML made by the
    same code; no API, Temporal or activities."""

    def __init__(self, settings: Settings, image_id: str, network_id: str, work: Path) -> None:
        self.hypervisor = real_drivers(settings).hypervisor
        self.store = real_block_store(settings)
        self.image, self.network_id, self.work = image_ref(image_id), network_id, work

    def _input(self, sid: str, name: str) -> StartDomainInput:
        mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:3])
        nic = NicInput(str(uuid.uuid4()), mac, self.network_id)
        drive = ConfigDriveInput(name=name, hostname=name, project_id="bench")
        return StartDomainInput(sid, vcpus=1, memory_mib=512, nics=(nic,), config_drive=drive)

    def boot(self, name: str) -> Times:
        sid = str(uuid.uuid4())
        disk = RbdRef(VMS, f"{sid}_disk")
        t0 = time.monotonic()
        self.store.clone(self.image, disk, 1 << 30)
        spec = domain_spec(self._input(sid, name), self.work / sid, f"nimbusbench-{sid}")
        self.hypervisor.define_and_start(spec)
        running = wait(lambda: self.hypervisor.power_state(spec.name) is PowerState.RUNNING)
        ready = wait(lambda: _ready(Path(spec.console_log)))
        self.hypervisor.destroy(spec.name)
        self.store.delete(disk)
        return running - t0, ready - t0


def measure(boots: dict[str, Callable[[str], Times]], n: int) -> dict[str, list[Times]]:
    """``n`` boots of each kind, alternating, after one unmeasured warm-up of each."""
    for name, boot in boots.items():
        boot(f"warmup-{name}")
    runs: dict[str, list[Times]] = {name: [] for name in boots}
    for i in range(n):
        for name, boot in boots.items():
            runs[name].append(boot(f"bench-{i}"))
            run, ready = runs[name][-1]
            print(f"  {name} boot {i + 1}/{n}: running {run:.2f}s, ready {ready:.2f}s", flush=True)
    return runs


def median(runs: list[Times], index: int) -> float:
    return statistics.median(r[index] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boots", type=int, default=5)
    args = parser.parse_args()
    with throwaway_cloud() as settings:
        api = NimbusClient(settings.data_dir / "clouds.yaml")
        network_id = tenant_network(api)
        nimbus = NimbusBoot(settings, api, network_id)
        direct = DirectBoot(settings, nimbus.image, network_id, settings.data_dir / "direct")
        runs = measure({"nimbus": nimbus.boot, "libvirt": direct.boot}, args.boots)
        histories = asyncio.run(fetch(settings, nimbus.workflows[-args.boots :]))
    d_run, d_ready = median(runs["libvirt"], 0), median(runs["libvirt"], 1)
    n_run, n_ready = median(runs["nimbus"], 0), median(runs["nimbus"], 1)
    print(f"\nmedian of {args.boots} boots (TCG, m1.tiny, default guest image, config drive, NIC)")
    print(f"{'':28}{'libvirt direct':>16}{'nimbus':>10}{'ratio':>8}")
    print(f"{'POST -> ACTIVE (running)':28}{d_run:>15.2f}s{n_run:>9.2f}s{n_run / d_run:>8.2f}")
    print(f"{'POST -> NIMBUS READY':28}{d_ready:>15.2f}s{n_ready:>9.2f}s{n_ready / d_ready:>8.2f}")
    print(f"orchestration overhead (POST -> ACTIVE): {(n_run - d_run) * 1000:.0f} ms")
    print(f"\nwhere a boot workflow's time goes (median of {args.boots})")
    print(summary(histories))
    middle = sorted(histories, key=total)[len(histories) // 2]
    print("\nthe median boot, step by step")
    print(timeline(middle))
    return 0


if __name__ == "__main__":
    exit_now(main())
