"""PaaS deployment benchmark: a steady request loop through the router while the Flask
sample, on two instances, is redeployed, three ways in one run:

1. a rolling deploy of a new version (new package, staged; new greeting);
2. a rollback to revision 1 (no staging: the old release's droplet), also rolling;
3. a recreate deploy of the same, for contrast (every instance replaced at once).

Prints, for each: requests, failures (non-2xx answers and connection errors), the
versions seen in order, and the deploy time (request to DEPLOYED); then the rollback's
time beside the fresh push's (upload + staging + deploy). Starts a throw-away cloud of
its own and stops it afterwards. Usage: ``python benchmarks/paas_deploy.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import throwaway_cloud, upload_sample, wait  # noqa: E402
from nimbus.client import NimbusClient  # noqa: E402
from nimbus.config import CHECKOUT, Settings  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402
from paas.manifest import manifest_from_file  # noqa: E402
from paas.requestloop import LoopResult, RequestLoop  # noqa: E402

SAMPLE = CHECKOUT / "paas/samples/flask-app"
NAME = "deploy-bench"


class Deployer:
    """Pushes and deploys through the REST API, as ``nimbus app`` does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api = NimbusClient(settings.data_dir / "clouds.yaml")
        fields = manifest_from_file(SAMPLE / "manifest.yml").to_json()
        fields.update(name=NAME, instances=2, routes=[{"route": self.host}])
        self.fields = fields
        self.app_id = self._json("POST", "/apps", json={"app": fields})["app"]["id"]

    @property
    def host(self) -> str:
        return f"{NAME}.{self.settings.apps_domain}"

    def _json(self, method: str, path: str, **kw: object) -> dict:
        r = self.api.call(method, f"/paas/v1{path}", **kw)
        assert r.status_code < 300, r.text
        return dict(r.json())

    def push(self, greeting: str, strategy: str) -> float:
        """A new package (the greeting in its env), staged and deployed; seconds taken."""
        began = time.monotonic()
        fields = {**self.fields, "env": {"GREETING": greeting}}
        self._json("PATCH", f"/apps/{self.app_id}", json={"app": fields})
        sha = upload_sample(self.api, SAMPLE, "version.txt", greeting)
        build = self._json("POST", f"/apps/{self.app_id}/builds", json={"package": sha})
        path = f"/apps/{self.app_id}/builds/{build['build']['id']}"
        wait(lambda: self._json("GET", path)["build"]["state"] == "STAGED", 900)
        body = {"build_id": build["build"]["id"], "strategy": strategy}
        self._json("POST", f"/apps/{self.app_id}/releases", json=body)
        self._deployed()
        return time.monotonic() - began

    def rollback(self, revision: int, strategy: str) -> float:
        began = time.monotonic()
        body = {"revision": revision, "strategy": strategy}
        self._json("POST", f"/apps/{self.app_id}/actions/rollback", json=body)
        self._deployed()
        return time.monotonic() - began

    def delete(self) -> None:
        """Delete the app and wait until it is gone: no guest outlives the cloud."""
        self.api.call("DELETE", f"/paas/v1/apps/{self.app_id}")
        path = f"/paas/v1/apps/{self.app_id}"
        wait(lambda: self.api.call("GET", path).status_code == 404, 300, interval=0.5)

    def _deployed(self) -> None:
        def done() -> bool:
            app = self._json("GET", f"/apps/{self.app_id}")["app"]
            state = app["deployment"]["state"]
            if state in ("FAILED", "CANCELED"):
                raise RuntimeError(f"deployment {state}: {app['deployment']['error']}")
            return state == "DEPLOYED" and app["running_instances"] == 2

        wait(done, 900, interval=0.5)


def _report(label: str, seconds: float, result: LoopResult) -> None:
    print(
        f"{label:<26} {seconds:>7.1f}s {result.requests:>9} {result.failures:>9}   "
        + " -> ".join(result.versions)
    )


def main() -> int:
    with throwaway_cloud() as settings:
        deployer = Deployer(settings)
        first = deployer.push("Hello", "recreate")
        router = ("127.0.0.1", settings.router_port)
        runs = []
        for label, action in (
            ("rolling push (staged)", lambda: deployer.push("Howdy", "rolling")),
            ("rolling rollback to v1", lambda: deployer.rollback(1, "rolling")),
            ("recreate rollback to v2", lambda: deployer.rollback(2, "recreate")),
        ):
            with RequestLoop(router, deployer.host, interval=0.05) as loop:
                time.sleep(1)
                seconds = action()
                time.sleep(1)
            runs.append((label, seconds, loop.result))
        deployer.delete()
    print(f"\nFlask sample on 2 instances (TCG); first push {first:.1f}s; a GET every 50 ms")
    print(f"{'':<26} {'deploy':>8} {'requests':>9} {'failures':>9}   versions seen")
    for label, seconds, result in runs:
        _report(label, seconds, result)
    push, rollback = runs[0][1], runs[1][1]
    print(f"rollback (no staging) vs push: {rollback:.1f}s vs {push:.1f}s = {rollback / push:.2f}x")
    return 0


if __name__ == "__main__":
    exit_now(main())
