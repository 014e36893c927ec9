"""Copy-on-write benchmark: create a volume from, and boot a server from, a 64 MiB and a
10 GiB image, side by side in one run; prints medians and the 10 GiB / 64 MiB ratio.

Both images are the default guest image padded with zeros (the 10 GiB one sparse), so both
boot. Starts a throw-away cloud of its own. Usage:
``python benchmarks/image_size.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import throwaway_cloud, wait  # noqa: E402
from launcher.services import cloud  # noqa: E402
from nimbus.client import NimbusClient  # noqa: E402
from nimbus.config import Settings  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402

MIB, GIB = 1 << 20, 1 << 30


def padded_image(source: Path, target: Path, size: int) -> Path:
    """The guest image grown to ``size`` bytes; the padding is a hole, costing no disk."""
    target.write_bytes(source.read_bytes())
    with open(target, "r+b") as f:
        f.truncate(size)
    return target


class Bench:
    def __init__(self, api: NimbusClient) -> None:
        self.api = api

    def upload(self, name: str, path: Path) -> tuple[str, float]:
        body = {"name": name, "disk_format": "raw", "container_format": "bare"}
        image_id = self.api.call("POST", "/image/v2/images", json=body).json()["id"]
        t0 = time.monotonic()
        with open(path, "rb") as f:
            r = self.api.call(
                "PUT",
                f"/image/v2/images/{image_id}/file",
                data=f,
                headers={"Content-Type": "application/octet-stream"},
            )
        assert r.status_code == 204, r.text
        return image_id, time.monotonic() - t0

    def volume(self, image_id: str, size_gib: int) -> float:
        base = f"/volume/v3/{self.api.project_id}/volumes"
        t0 = time.monotonic()
        body = {"volume": {"size": size_gib, "imageRef": image_id}}
        vid = self.api.call("POST", base, json=body).json()["volume"]["id"]
        done = wait(
            lambda: self.api.call("GET", f"{base}/{vid}").json()["volume"]["status"] == "available",
            interval=0.02,
        )
        self.api.call("DELETE", f"{base}/{vid}")
        wait(lambda: self.api.call("GET", f"{base}/{vid}").status_code == 404)
        return done - t0

    def boot(self, image_id: str) -> float:
        body = {"server": {"name": "bench", "flavorRef": "2", "imageRef": image_id}}
        t0 = time.monotonic()
        sid = self.api.call("POST", "/compute/v2.1/servers", json=body).json()["server"]["id"]
        url = f"/compute/v2.1/servers/{sid}"
        done = wait(
            lambda: self.api.call("GET", url).json()["server"]["status"] == "ACTIVE", interval=0.02
        )
        self.api.call("DELETE", url)
        wait(lambda: self.api.call("GET", url).status_code == 404)
        return done - t0


def median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with throwaway_cloud() as settings:
        rows = run(settings, settings.data_dir, args.runs)
    print(f"\nmedian of {args.runs} runs; both images boot (default guest, zero-padded)")
    print(f"{'':34}{'64 MiB':>10}{'10 GiB':>10}{'ratio':>8}")
    for label, small, large in rows:
        print(f"{label:34}{small:>9.2f}s{large:>9.2f}s{large / small:>8.2f}")
    return 0


def run(settings: Settings, data: Path, runs: int) -> list[tuple[str, float, float]]:
    source = cloud.guest_image_path(settings)
    bench = Bench(NimbusClient(settings.data_dir / "clouds.yaml"))
    small, up_small = bench.upload("img-64m", padded_image(source, data / "s.raw", 64 * MIB))
    large, up_large = bench.upload("img-10g", padded_image(source, data / "l.raw", 10 * GIB))
    print(f"uploads (informational): 64 MiB {up_small:.1f}s, 10 GiB {up_large:.1f}s", flush=True)
    return [
        (
            "volume from image -> available",
            median(lambda: bench.volume(small, 10), runs),
            median(lambda: bench.volume(large, 10), runs),
        ),
        (
            "server from image -> ACTIVE",
            median(lambda: bench.boot(small), runs),
            median(lambda: bench.boot(large), runs),
        ),
    ]


if __name__ == "__main__":
    exit_now(main())
