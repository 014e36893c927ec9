"""What the benchmarks share: a throw-away cloud of their own, and polling."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from launcher.services import cloud, hosts
from launcher.services.netpurge import purge_network
from nimbus.client import NimbusClient
from nimbus.config import Settings
from paas.package import pack


def upload_sample(api: NimbusClient, sample: Path, marker: str, text: str) -> str:
    """Upload a copy of ``sample`` with the file ``marker`` holding ``text`` (so that each
    upload is a new package), as ``nimbus app push`` packs it; return its sha256."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "app"
        shutil.copytree(sample, folder)
        (folder / marker).write_text(f"{text}\n")
        info = pack(folder, Path(tmp) / "app.tgz")
        r = api.call(
            "PUT",
            f"/paas/v1/packages/{info.sha256}",
            data=(Path(tmp) / "app.tgz").read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code < 300, r.text
    return info.sha256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(check: Callable[[], bool], timeout: float = 180, interval: float = 0.05) -> float:
    """Poll until ``check`` holds; return the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError("benchmark step timed out")


@contextmanager
def throwaway_cloud() -> Iterator[Settings]:
    """``nimbus up`` on free ports in a temporary data directory; ``down`` afterwards."""
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            api_port=free_port(),
            temporal_port=free_port(),
            temporal_ui_port=free_port(),
            worker_metrics_port=free_port(),
            domain_type="qemu",
            instance_prefix="nimbusbench-",
            nft_table="nimbusbench",
            external_cidr="100.66.0.0/24",
            # Its own underlay, not the default one a cloud on this machine may be using.
            underlay_bridge="nimbusbench0",
            underlay_cidr="100.67.0.0/24",
            rgw_port=free_port(),
            router_port=free_port(),
            dashboard_port=free_port(),
            prometheus_port=free_port(),
            alertmanager_port=free_port(),
            temporal_metrics_port=free_port(),
            ceph_metrics_port=free_port(),
            router_metrics_port=free_port(),
        )
        try:
            cloud.up(settings)
            yield settings
        finally:
            purge_domains(settings)
            purge_network(settings)
            cloud.down(settings)
            hosts.purge(settings)  # the underlay bridge outlives ``down``


def purge_domains(settings: Settings) -> None:
    """Guests outlive ``nimbus down`` (as instances outlive a compute service's restart):
    a throw-away cloud's own go with it, even when a benchmark stopped half-way."""
    from launcher.drivers import real_drivers

    hypervisor = real_drivers(settings).hypervisor
    for name in hypervisor.power_states(settings.instance_prefix):
        hypervisor.destroy(name)
