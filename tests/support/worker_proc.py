"""A worker in its own process, over the real network driver, that can be SIGKILLed at an
exact step: after activity ``--pause-after`` has done its work, it writes ``--signal``
and hangs, so the test kills it with the side effect done but not yet recorded.

The hypervisor and block store are the in-memory fakes (the crash tests are about the
network); the image the boot clones from is created in the fake store at start.

    python -m tests.support.worker_proc --pause-after ensure_network --signal /tmp/x
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.hypervisor.base import CephAccess
from activities.hypervisor.fake import FakeHypervisor
from activities.objectstore.fake import FakeObjectStoreAdmin
from activities.storage.block import RbdRef
from activities.storage.fake_block import FakeBlockStore
from launcher.drivers import HostDrivers, real_network
from launcher.worker import run
from nimbus.config import CHECKOUT, Settings, load_settings, settings_env
from nimbus.exit import exit_now


class PauseAfter(Interceptor):
    """After the first run of activity ``name`` in a workflow whose id starts with
    ``workflow``: write ``signal_file``, then hang."""

    def __init__(self, name: str, signal_file: Path, workflow: str = "") -> None:
        self.name, self.signal_file, self.workflow = name, signal_file, workflow

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Pause(next, self)


class _Pause(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: PauseAfter) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        info = activity.info()
        if info.activity_type == self.owner.name and info.workflow_id.startswith(
            self.owner.workflow
        ):
            self.owner.signal_file.write_text(info.workflow_id)
            while True:
                time.sleep(3600)  # blocks the executor thread: only SIGKILL ends this
        return result


def drivers(settings: Settings, image: str | None) -> HostDrivers:
    store = FakeBlockStore()
    if image:
        ref = RbdRef.parse(image)
        store.create(ref.image(), 1 << 20)
        store.snapshot(ref)
    hypervisor = FakeHypervisor(ceph=CephAccess(monitors=("127.0.0.1:6789",)))
    return HostDrivers(hypervisor, store, real_network(settings), FakeObjectStoreAdmin())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pause-after", default="")
    parser.add_argument("--signal", default="")
    parser.add_argument("--workflow", default="", help="workflow id prefix")
    parser.add_argument("--image", default="", help="pool/name@snap to create in the store")
    args = parser.parse_args()
    settings = load_settings()
    interceptors = (
        [PauseAfter(args.pause_after, Path(args.signal), args.workflow)] if args.pause_after else []
    )

    async def serve() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await run(settings, drivers(settings, args.image or None), stop, interceptors)

    asyncio.run(serve())
    exit_now(0)


class WorkerProcess:
    """Start, signal and kill a ``worker_proc`` for a test."""

    def __init__(
        self, settings: Settings, image: str, pause_after: str = "", workflow: str = ""
    ) -> None:
        self.signal = settings.data_dir / f"paused-{os.getpid()}-{time.monotonic_ns()}"
        cmd = [sys.executable, "-m", "tests.support.worker_proc", "--image", image]
        if pause_after:
            cmd += ["--pause-after", pause_after, "--signal", str(self.signal)]
            cmd += ["--workflow", workflow]
        env = {**os.environ, **settings_env(settings)}
        log = (settings.data_dir / "worker-proc.log").open("ab")
        self.proc = subprocess.Popen(cmd, cwd=CHECKOUT, env=env, stdout=log, stderr=log)

    def wait_paused(self, timeout: float = 60) -> str:
        """The id of the workflow whose step the worker stopped after."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.signal.exists() and self.signal.read_text():
                return self.signal.read_text()
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}")
            time.sleep(0.02)
        raise AssertionError("the worker never reached the step")

    def kill(self) -> None:
        """SIGKILL, as a crash would; reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


if __name__ == "__main__":
    sys.exit(main())
