"""A whole Nimbus cloud started with ``nimbus up`` in a throw-away data directory.

Its own ports and data directory; the system libvirtd is shared (and started if needed).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.hypervisor.base import HypervisorDriver
from activities.network.base import DataPlaneState
from activities.storage.block import BlockStore
from launcher.drivers import real_block_store, real_drivers, real_network
from launcher.services import hosts, process
from launcher.services.netpurge import purge_network
from nimbus.client import NimbusClient
from nimbus.config import CHECKOUT, Settings, settings_env
from tests.support import oscli
from tests.support.temporal_server import free_port

LIBVIRT_URI = "qemu:///system"


@dataclass
class Cloud:
    settings: Settings
    env: dict[str, str]

    def nimbus(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "launcher.cli", *args],
            env=self.env,
            cwd=CHECKOUT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def openstack(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The unmodified ``openstack`` CLI, configured by the cloud's clouds.yaml (run as
        ``tests.support.oscli`` says)."""
        return oscli.run(list(args), self.env, timeout)

    def openstack_json(self, *args: str) -> Any:
        result = self.openstack(*args, "-f", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def client(self) -> NimbusClient:
        """An admin client of this cloud's API."""
        return NimbusClient(self.settings.data_dir / "clouds.yaml")

    def hypervisor(self) -> HypervisorDriver:
        """The cloud's hypervisor driver, as its worker sees it."""
        return real_drivers(self.settings).hypervisor

    def block_store(self) -> BlockStore:
        """The cloud's own Ceph, as its worker sees it."""
        return real_block_store(self.settings)

    def network_state(self) -> DataPlaneState:
        """What the cloud's network driver has on this host, read back from the host."""
        return real_network(self.settings).state()

    @property
    def url(self) -> str:
        return self.settings.public_url

    @property
    def verify(self) -> str | bool:
        """What a client checks the API's certificate against: the cloud's own CA."""
        return self.settings.api_verify

    def worker_pid(self) -> int | None:
        return process.running_pid(self.settings.run_dir, "worker")

    def kill_worker(self) -> None:
        pid = self.worker_pid()
        assert pid is not None, "the worker is not running"
        os.kill(pid, signal.SIGKILL)
        process.wait_until(lambda: not process.is_running(pid), 10)

    def domains(self) -> set[str]:
        """Names of this cloud's domains on the host, running or not."""
        out = subprocess.run(
            ["virsh", "-c", LIBVIRT_URI, "list", "--all", "--name"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        prefix = self.settings.instance_prefix
        return {line.strip() for line in out.splitlines() if line.strip().startswith(prefix)}

    def rbd_names(self, pool: str) -> list[str]:
        """The RBD images in one of the cloud's Ceph pools."""
        import rados
        import rbd

        conf, keyring = self.settings.ceph_conf_path, self.settings.ceph_keyring_path
        with (
            rados.Rados(conffile=conf, conf={"keyring": keyring}) as cluster,
            cluster.open_ioctx(pool) as ioctx,
        ):
            return list(rbd.RBD().list(ioctx))

    def disks(self) -> set[str]:
        """Ids of the servers whose root disk exists in the cloud's Ceph pool ``vms``."""
        names = self.rbd_names("vms")
        return {n.removesuffix("_disk") for n in names if n.endswith("_disk")}


_CLOUDS = itertools.count()


def start_cloud(
    data_dir: Path, guest_image: Path, runtime_image: Path, postgresql_image: Path | None = None
) -> Cloud:
    """``nimbus up`` on free ports; the guest and PaaS images are seeded so they are not
    built again (the PostgreSQL one is built by ``nimbus up`` if not given)."""
    # Each cloud of this process gets names and an external range of its own: two clouds
    # sharing an nftables table would drop each other's rules when one is removed.
    n, pid = next(_CLOUDS), os.getpid()
    prefix = f"nimbustest{pid}x{n}-"
    settings = Settings(
        nft_table=f"nimbust{pid}x{n}",
        external_cidr=f"100.64.{(pid % 100 + n * 101) % 230 + 20}.0/24",
        underlay_cidr=f"100.65.{(pid % 100 + n * 101) % 230 + 20}.0/24",
        underlay_bridge=f"nv{pid % 100000}x{n}",
        data_dir=data_dir,
        api_port=free_port(),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        worker_metrics_port=free_port(),
        rgw_port=free_port(),
        router_port=free_port(),
        dashboard_port=free_port(),
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        temporal_metrics_port=free_port(),
        ceph_metrics_port=free_port(),
        router_metrics_port=free_port(),
        # tests/e2e/test_monitoring.py listens there while it waits for an alert, and
        # makes a boot stuck for longer than this: long enough for any boot of the suite
        # (a few seconds under TCG), short enough that the alert's test waits little.
        alert_webhook_url=f"http://127.0.0.1:{free_port()}/alerts",
        stuck_operation_seconds=20.0,
        domain_type="qemu",
        instance_prefix=prefix,
        power_sync_seconds=1.0,
        soft_reboot_seconds=5.0,
        # The suite's guests, apps and services share this machine's two CPUs and mostly
        # idle: as on a small test cloud, the host places 16 vCPUs a CPU, not 4.
        cpu_allocation_ratio=16.0,
    )
    cache = data_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(guest_image, cache / "nimbus-guest.raw")
    subprocess.run(
        ["cp", "--sparse=always", str(runtime_image), str(cache / "paas-runtime.raw")], check=True
    )
    if postgresql_image is not None:
        target = cache / "paas-postgresql.raw"
        subprocess.run(["cp", "--sparse=always", str(postgresql_image), str(target)], check=True)
    env = {
        **os.environ,
        **settings_env(settings),
        "OS_CLOUD": "nimbus",
        "OS_CLIENT_CONFIG_FILE": str(data_dir / "clouds.yaml"),
    }
    cloud = Cloud(settings, env)
    result = cloud.nimbus("up")
    if result.returncode != 0:
        cloud.nimbus("down")  # whatever it did start must not outlive the test
        raise AssertionError(f"nimbus up failed:\n{result.stdout}\n{result.stderr}")
    return cloud


def stop_cloud(cloud: Cloud) -> None:
    """Stop the worker (so no workflow makes devices again meanwhile: an app's supervisor
    would replace the guests), delete what the tests left (guests, then network devices),
    then ``nimbus down``."""
    process.stop("worker", cloud.settings.run_dir)
    for name in cloud.domains():
        subprocess.run(["virsh", "-c", LIBVIRT_URI, "destroy", name], capture_output=True)
        subprocess.run(["virsh", "-c", LIBVIRT_URI, "undefine", name], capture_output=True)
    purge_network(cloud.settings)
    cloud.nimbus("down")
    hosts.purge(cloud.settings)


def wait_for(
    check: Any, timeout: float, what: str | Callable[[], str], interval: float = 0.5
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    said = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {said}")
