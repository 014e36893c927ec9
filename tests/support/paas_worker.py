"""The cloud's own worker (real drivers), started by a test in place of the one ``nimbus
up`` runs, that hangs right after a named activity did its work so the test can SIGKILL it
there: the side effect done, Temporal not yet told.

    python -m tests.support.paas_worker --pause-after create_instance --signal FILE
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

from launcher.drivers import real_drivers
from launcher.services import process
from launcher.worker import run
from nimbus.config import CHECKOUT, Settings, load_settings, settings_env
from nimbus.exit import exit_now
from tests.support.worker_proc import PauseAfter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pause-after", required=True)
    parser.add_argument("--signal", required=True)
    parser.add_argument("--workflow", default="", help="workflow id prefix (default: any)")
    args = parser.parse_args()
    settings = load_settings()
    pause = PauseAfter(args.pause_after, Path(args.signal), args.workflow)

    async def serve() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await run(settings, real_drivers(settings), stop, [pause])

    asyncio.run(serve())
    exit_now(0)


class PausingWorker:
    """Replaces the cloud's worker with one that pauses after ``step``; ``kill`` it."""

    def __init__(self, settings: Settings, step: str) -> None:
        process.stop("worker", settings.run_dir)
        self.signal = settings.data_dir / f"paused-{os.getpid()}-{time.monotonic_ns()}"
        cmd = [sys.executable, "-m", "tests.support.paas_worker", "--pause-after", step]
        cmd += ["--signal", str(self.signal)]
        env = {**os.environ, **settings_env(settings)}
        log = (settings.log_dir / "pausing-worker.log").open("ab")
        self.proc = subprocess.Popen(cmd, cwd=CHECKOUT, env=env, stdout=log, stderr=log)

    def wait_paused(self, timeout: float = 300) -> str:
        """The id of the workflow whose step the worker stopped after."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.signal.exists() and self.signal.read_text():
                return self.signal.read_text()
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited with {self.proc.returncode}")
            time.sleep(0.05)
        self.kill()
        raise AssertionError("the worker never reached the step")

    def kill(self) -> None:
        """SIGKILL, as a crash would; reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
