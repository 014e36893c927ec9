"""The Python buildpack's dependency step: requirements -> shared wheelhouse -> ``.deps``.

Guests cannot reach a package index, so everything is resolved here at staging time.
Wheels land in a wheelhouse shared by every build: the first build of a requirements file
fetches them through pip as this host configures it; the next builds find them all in
the wheelhouse and need no network.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paas.tools import LogFn, ToolOutcome, ToolRunner

REQUIREMENTS = "requirements.txt"
STEP_LINE = "-----> Python buildpack: "
_QUIET_PIP = ["--no-input", "--disable-pip-version-check", "--progress-bar", "off"]


@dataclass(frozen=True)
class PipJob:
    """One requirements install: where the app is, where its packages go, what runs pip."""

    app_dir: Path
    deps_dir: Path
    cache_dir: Path
    python: str
    runner: ToolRunner
    log: LogFn
    remaining: Callable[[], float]


class PipFailed(Exception):
    """A pip run failed; ``outcome`` has its last lines."""

    def __init__(self, outcome: ToolOutcome) -> None:
        super().__init__("pip failed")
        self.outcome = outcome


def install_requirements(job: PipJob) -> None:
    """Builds or reuses wheels for ``requirements.txt`` and installs them into
    ``deps_dir`` without an index. Raises PipFailed with the failing run's outcome."""
    wheels = job.cache_dir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    # Each build collects its wheels in a folder of its own and installs exactly those;
    # the shared wheelhouse gets them through atomic renames, so concurrent builds never
    # see a half-written wheel.
    own = Path(tempfile.mkdtemp(prefix="build-", dir=job.cache_dir))
    try:
        _collect_wheels(job, wheels, own)
        _publish(own, wheels)
        job.log(STEP_LINE + f"installing {len(list(own.glob('*.whl')))} wheels into .deps")
        # Compiled here (the guest mounts the droplet read-only and could not cache them);
        # the host's Python and the runtime's are both 3.11, whose bytecode is the same.
        install = ["install", "--no-index", "--find-links", str(own)]
        _pip(job, "pip install", [*install, "--target", str(job.deps_dir), "-r", REQUIREMENTS])
    finally:
        shutil.rmtree(own, ignore_errors=True)


def _collect_wheels(job: PipJob, wheels: Path, own: Path) -> None:
    wheel_args = ["wheel", "--find-links", str(wheels), "-w", str(own), "-r", REQUIREMENTS]
    if any(wheels.glob("*.whl")):
        job.log(STEP_LINE + "looking for every requirement in the wheel cache")
        try:
            _pip(job, "pip wheel (cache)", [*wheel_args, "--no-index"])
            return
        except PipFailed:
            job.log(STEP_LINE + "the wheel cache lacks some; resolving from the package index")
    else:
        job.log(STEP_LINE + "the wheel cache is empty; resolving from the package index")
    _pip(job, "pip wheel (index)", wheel_args)


def _publish(own: Path, wheels: Path) -> None:
    for wheel in own.glob("*.whl"):
        incoming = wheels / f".{wheel.name}.{os.getpid()}"
        shutil.copyfile(wheel, incoming)
        os.replace(incoming, wheels / wheel.name)


def _pip(job: PipJob, name: str, args: list[str]) -> None:
    # -u: unbuffered, so pip's lines reach the log as it prints them.
    argv = [job.python, "-u", "-m", "pip", *args, *_QUIET_PIP]
    outcome = job.runner.run(name, argv, job.app_dir, job.log, max(job.remaining(), 0.001))
    if not outcome.ok:
        raise PipFailed(outcome)
