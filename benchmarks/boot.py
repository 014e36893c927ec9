"""Boot benchmark: POST -> ACTIVE and POST -> NIMBUS READY through Nimbus, beside the same
guest booted directly through libvirt, in one run; prints medians and their ratios.

Starts a throw-away cloud of its own (``nimbus up`` on free ports in a temporary data
directory) and stops it afterwards. Usage: ``python benchmarks/boot.py [--boots N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.hypervisor.base import Disk, DomainSpec, PowerState  # noqa: E402
from activities.storage.block import VMS, RbdRef, image_ref  # noqa: E402
from benchmarks.common import throwaway_cloud, wait  # noqa: E402
from launcher.drivers import real_block_store, real_drivers  # noqa: E402
from nimbus.client import NimbusClient  # noqa: E402
from nimbus.config import Settings  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402

READY = "NIMBUS READY"


class NimbusBoot:
    """Boots through the REST API exactly as a client does."""

    def __init__(self, settings: Settings) -> None:
        self.api = NimbusClient(settings.data_dir / "clouds.yaml")
        self.image = self.api.image_id("nimbus-guest")

    def _status(self, sid: str) -> str:
        return str(self.api.call("GET", f"/compute/v2.1/servers/{sid}").json()["server"]["status"])

    def _console(self, sid: str) -> str:
        body = {"os-getConsoleOutput": {"length": None}}
        r = self.api.call("POST", f"/compute/v2.1/servers/{sid}/action", json=body)
        return str(r.json().get("output", ""))

    def boot(self, name: str) -> tuple[float, float]:
        body = {"server": {"name": name, "flavorRef": "1", "imageRef": self.image}}
        t0 = time.monotonic()
        sid = self.api.call("POST", "/compute/v2.1/servers", json=body).json()["server"]["id"]
        active = wait(lambda: self._status(sid) == "ACTIVE")
        ready = wait(lambda: READY in self._console(sid), interval=0.1)
        self.api.call("DELETE", f"/compute/v2.1/servers/{sid}")
        wait(lambda: self.api.call("GET", f"/compute/v2.1/servers/{sid}").status_code == 404)
        return active - t0, ready - t0


class DirectBoot:
    """The same guest straight through libvirt: the same RBD clone of the same image, the
    same flavor and domain XML, without API, Temporal or activities."""

    def __init__(self, settings: Settings, image_id: str, work: Path) -> None:
        self.hypervisor = real_drivers(settings).hypervisor
        self.store = real_block_store(settings)
        self.image, self.work = image_ref(image_id), work

    def boot(self, _name: str) -> tuple[float, float]:
        sid = str(uuid.uuid4())
        disk = RbdRef(VMS, f"bench-{sid}_disk")
        spec = DomainSpec(
            name=f"nimbusbench-{sid}",
            uuid=sid,
            vcpus=1,
            memory_mib=512,
            root=Disk("vda", "rbd", str(disk)),
            console_log=str(self.work / sid / "console.log"),
        )
        t0 = time.monotonic()
        self.store.clone(self.image, disk, 1 << 30)
        self.hypervisor.define_and_start(spec)
        running = wait(lambda: self.hypervisor.power_state(spec.name) is PowerState.RUNNING)
        log = Path(spec.console_log)
        ready = wait(lambda: log.exists() and READY in log.read_text(errors="replace"))
        self.hypervisor.destroy(spec.name)
        self.store.delete(disk)
        return running - t0, ready - t0


def measure(name: str, boot: Callable[[str], tuple[float, float]], n: int) -> tuple[float, float]:
    runs = []
    for i in range(n):
        runs.append(boot(f"bench-{i}"))
        print(
            f"  {name} boot {i + 1}/{n}: running {runs[-1][0]:.2f}s, ready {runs[-1][1]:.2f}s",
            flush=True,
        )
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boots", type=int, default=5)
    args = parser.parse_args()
    with throwaway_cloud() as settings:
        nimbus = NimbusBoot(settings)
        direct = DirectBoot(settings, nimbus.image, settings.data_dir / "direct")
        d_run, d_ready = measure("libvirt", direct.boot, args.boots)
        n_run, n_ready = measure("nimbus", nimbus.boot, args.boots)
    print(f"\nmedian of {args.boots} boots (TCG, m1.tiny, default guest image)")
    print(f"{'':28}{'libvirt direct':>16}{'nimbus':>10}{'ratio':>8}")
    print(f"{'POST -> ACTIVE (running)':28}{d_run:>15.2f}s{n_run:>9.2f}s{n_run / d_run:>8.2f}")
    print(f"{'POST -> NIMBUS READY':28}{d_ready:>15.2f}s{n_ready:>9.2f}s{n_ready / d_ready:>8.2f}")
    return 0


if __name__ == "__main__":
    exit_now(main())
