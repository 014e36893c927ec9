"""PaaS push benchmark: push-to-first-200 of both samples, broken into upload, staging,
boot, healthy and routed, beside a raw server create of the same runtime image (POST ->
ACTIVE and POST -> NIMBUS READY), in one run; prints medians and the ratios.

Starts a throw-away cloud of its own (``nimbus up`` on free ports in a temporary data
directory) and stops it afterwards. Usage: ``python benchmarks/paas_push.py [--runs N]``.
Each run pushes the sample as a new app (a new package: a file with the run's number is
added) and deletes it afterwards; the wheelhouse stays warm after the first Python run, as
it does on a cloud in use.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import throwaway_cloud, upload_sample, wait  # noqa: E402
from nimbus.client import NimbusClient  # noqa: E402
from nimbus.config import CHECKOUT, Settings  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402
from paas.manifest import manifest_from_file  # noqa: E402
from paas.runtime import RUNTIME_IMAGE_NAME  # noqa: E402

PHASES = ("upload", "staging", "boot", "healthy", "routed")
READY = "NIMBUS READY"


class Pusher:
    """Pushes through the REST API as ``nimbus app push`` does, timing each phase."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api = NimbusClient(settings.data_dir / "clouds.yaml")

    def _json(self, method: str, path: str, **kw: object) -> dict:
        r = self.api.call(method, f"/paas/v1{path}", **kw)
        assert r.status_code < 300, r.text
        return dict(r.json())

    def push(self, sample: Path, run: int) -> dict[str, float]:
        fields = manifest_from_file(sample / "manifest.yml").to_json()
        name = f"{fields['name']}-b{run}"
        fields.update(name=name, routes=[{"route": f"{name}.{self.settings.apps_domain}"}])
        app = self._json("POST", "/apps", json={"app": fields})["app"]
        marks = [time.monotonic()]
        sha = upload_sample(self.api, sample, "run.txt", str(run))
        marks.append(time.monotonic())
        build = self._json("POST", f"/apps/{app['id']}/builds", json={"package": sha})["build"]
        path = f"/apps/{app['id']}/builds/{build['id']}"
        marks.append(wait(lambda: self._json("GET", path)["build"]["state"] == "STAGED", 900))
        self._json("POST", f"/apps/{app['id']}/releases", json={"build_id": build["id"]})
        marks.append(wait(lambda: self._server_active(app["id"]), 600))
        marks.append(wait(lambda: self._running(app["id"]), 600))
        marks.append(wait(lambda: self._get(f"{name}.{self.settings.apps_domain}") == 200, 120))
        self.api.call("DELETE", f"/paas/v1/apps/{app['id']}")
        wait(lambda: self.api.call("GET", f"/paas/v1/apps/{app['id']}").status_code == 404, 300)
        return {phase: marks[i + 1] - marks[i] for i, phase in enumerate(PHASES)}

    def _instances(self, app_id: str) -> list[dict]:
        return list(self._json("GET", f"/apps/{app_id}/instances")["instances"])

    def _server_active(self, app_id: str) -> bool:
        return any(i["server_status"] == "ACTIVE" for i in self._instances(app_id))

    def _running(self, app_id: str) -> bool:
        return any(i["state"] == "RUNNING" for i in self._instances(app_id))

    def _get(self, host: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.settings.router_port, timeout=5)
        try:
            conn.request("GET", "/", headers={"Host": host})
            return conn.getresponse().status
        except OSError:
            return 0
        finally:
            conn.close()


class RawCreate:
    """``openstack server create`` of the runtime image, as its REST calls."""

    def __init__(self, settings: Settings) -> None:
        self.api = NimbusClient(settings.data_dir / "clouds.yaml")
        self.image = self.api.image_id(RUNTIME_IMAGE_NAME)

    def _console(self, sid: str) -> str:
        body = {"os-getConsoleOutput": {"length": None}}
        r = self.api.call("POST", f"/compute/v2.1/servers/{sid}/action", json=body)
        return str(r.json().get("output", ""))

    def boot(self, run: int) -> tuple[float, float]:
        body = {"server": {"name": f"raw-{run}", "flavorRef": "1", "imageRef": self.image}}
        t0 = time.monotonic()
        sid = self.api.call("POST", "/compute/v2.1/servers", json=body).json()["server"]["id"]
        path = f"/compute/v2.1/servers/{sid}"
        active = wait(lambda: self.api.call("GET", path).json()["server"]["status"] == "ACTIVE")
        ready = wait(lambda: READY in self._console(sid), interval=0.1)
        self.api.call("DELETE", path)
        wait(lambda: self.api.call("GET", path).status_code == 404)
        return active - t0, ready - t0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    samples = {
        "static-site": CHECKOUT / "paas/samples/static-site",
        "flask-app": CHECKOUT / "paas/samples/flask-app",
    }
    with throwaway_cloud() as settings:
        raw = RawCreate(settings)
        baseline = [raw.boot(n) for n in range(args.runs)]
        pusher = Pusher(settings)
        results = {
            name: [pusher.push(path, n) for n in range(args.runs)] for name, path in samples.items()
        }
    raw_active = _median([a for a, _ in baseline])
    raw_ready = _median([r for _, r in baseline])
    print(f"\nmedian of {args.runs} pushes per sample (TCG, m1.tiny, {RUNTIME_IMAGE_NAME})")
    print(f"{'':<14}" + "".join(f"{p:>9}" for p in PHASES) + f"{'total':>9}{'vs raw READY':>14}")
    for name, runs in results.items():
        medians = [_median([r[p] for r in runs]) for p in PHASES]
        total = _median([sum(r.values()) for r in runs])
        row = "".join(f"{m:>8.2f}s" for m in medians)
        print(f"{name:<14}{row}{total:>8.2f}s{total / raw_ready:>13.2f}x")
    print(f"raw server create of the same image: POST -> ACTIVE {raw_active:.2f}s,", end=" ")
    print(f"POST -> {READY} {raw_ready:.2f}s")
    return 0


if __name__ == "__main__":
    exit_now(main())
