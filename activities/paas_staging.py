"""Staging on the host that holds the package: unpack, run the buildpack, write the
droplet disk (the runtime image with the app in a partition of its own).

Each attempt starts from an empty work folder, so a retry after a crash redoes the work
rather than trusting a half-written tree. Staging output goes to the app's log as it is
produced, tagged ``STG``.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from nimbus.db import Database
from paas import logstore
from paas.droplets import DropletWriter

#: Staging output is written to the log store at least this often.
FLUSH_SECONDS = 0.5


@dataclass(frozen=True)
class StageInput:
    build_id: str
    app_id: str
    package_sha256: str
    command: str | None = None
    buildpack: str | None = None


@dataclass(frozen=True)
class StageOutput:
    droplet_path: str
    buildpack: str
    runtime: str
    command: str
    size: int


@dataclass(frozen=True)
class CleanupInput:
    build_id: str


class LineBatcher:
    """Collects output lines from a tool and writes them to the app's log in batches,
    heartbeating the activity as it goes."""

    def __init__(self, db: Database, app_id: str, source: str = "STG") -> None:
        self.db, self.app_id, self.source = db, app_id, source
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def __call__(self, line: str) -> None:
        with self._lock:
            self._lines.append(line.rstrip("\n"))
        if time.monotonic() - self._last >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            self._last = time.monotonic()
        logstore.append(self.db, self.app_id, self.source, lines)
        if activity.in_activity():
            activity.heartbeat(len(lines))


def packages_dir(paas_dir: Path) -> Path:
    return paas_dir / "packages"


def package_path(paas_dir: Path, sha256: str) -> Path:
    """Where an uploaded package is kept, by content."""
    return packages_dir(paas_dir) / f"{sha256}.tgz"


class StagingActivities:
    """Host-bound staging steps over the buildpacks and the droplet disk builder."""

    def __init__(
        self,
        db: Database,
        paas_dir: Path,
        droplets: DropletWriter,
        python: str = sys.executable,
    ) -> None:
        self.db = db
        self.paas_dir = paas_dir
        self.droplets = droplets
        self.python = python

    def _work(self, build_id: str) -> Path:
        return self.paas_dir / "work" / build_id

    def droplet_path(self, build_id: str) -> Path:
        return self.paas_dir / "droplets" / f"{build_id}.raw"

    @activity.defn
    def stage(self, inp: StageInput) -> StageOutput:
        """Unpack the package, run the buildpack, write the droplet disk."""
        from paas import buildpacks, package

        work = self._work(inp.build_id)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        log = LineBatcher(self.db, inp.app_id)
        try:
            log("-----> Unpacking the app")
            package.unpack(package_path(self.paas_dir, inp.package_sha256), work / "src")
            result = buildpacks.stage(
                work / "src",
                work / "droplet",
                self.paas_dir / "cache",
                log,
                command=inp.command,
                hint=inp.buildpack,
                python=self.python,
            )
            log("-----> Writing the droplet disk")
            out = self.droplet_path(inp.build_id)
            out.parent.mkdir(parents=True, exist_ok=True)
            self.droplets.write(work / "droplet", out)
            log(f"-----> Droplet: {result.size_bytes >> 10} KiB, start command: {result.command}")
        except buildpacks.StagingError as exc:
            log(f"-----> Staging failed in step {exc.step}: {exc}")
            raise ApplicationError(
                str(exc), exc.step, exc.output, type="InvalidSpec", non_retryable=True
            ) from exc
        finally:
            log.flush()
        return StageOutput(
            str(out), result.buildpack, result.runtime, result.command, result.size_bytes
        )

    @activity.defn
    def cleanup(self, inp: CleanupInput) -> None:
        """Remove the build's work folder and droplet file; what is gone is fine."""
        shutil.rmtree(self._work(inp.build_id), ignore_errors=True)
        self.droplet_path(inp.build_id).unlink(missing_ok=True)

    def all(self) -> list[Callable[..., Any]]:
        return [self.stage, self.cleanup]
