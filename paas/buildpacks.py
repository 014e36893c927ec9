"""Buildpacks: turn an unpacked app folder into a droplet folder that a guest runs.

Two buildpacks, as Heroku and Cloud Foundry name them: ``python`` (the app plus its
dependencies in ``.deps``, installed here because guests cannot reach a package index)
and ``static`` (files served by busybox httpd). Each run rebuilds the droplet from
scratch beside ``out_dir`` and swaps it in, so staging again is always safe.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath

from nimbus.errors import InvalidSpec
from paas.fields import BUILDPACK_ALIASES, BUILDPACKS
from paas.ignore import load_rules
from paas.python_deps import REQUIREMENTS, PipFailed, PipJob, install_requirements
from paas.tools import LogFn, SubprocessRunner, ToolOutcome, ToolRunner

STEP_DETECT = "detect"
STEP_INSTALL = "install requirements"
STEP_COMMAND = "start command"
DROPLET_JSON = "nimbus-droplet.json"
STATIC_COMMAND = "httpd -f -v -p $PORT -h /app/public"
#: App files that describe the app to the platform rather than being part of the site.
PLATFORM_FILES = ("manifest.yml", "manifest.yaml", "Procfile", ".cfignore", DROPLET_JSON)


class StagingError(InvalidSpec):
    """Staging failed at ``step``; ``output`` holds the last lines of the tool that failed."""

    def __init__(self, step: str, reason: str, output: Sequence[str] = ()) -> None:
        self.step = step
        self.output = list(output)
        super().__init__(f"staging failed at step '{step}': {reason}")


@dataclass(frozen=True)
class StageResult:
    """What a staging made: which buildpack, the runtime a guest needs, how to start it."""

    buildpack: str
    runtime: str
    command: str
    size_bytes: int


def detect(app_dir: Path, hint: str | None = None) -> str:
    """The buildpack for an app: ``hint`` if given (checked), else from its files."""
    if hint is not None:
        name = BUILDPACK_ALIASES.get(hint, hint)
        if name not in BUILDPACKS:
            known = " or ".join(BUILDPACKS)
            raise StagingError(STEP_DETECT, f"unknown buildpack {hint!r} (known: {known})")
        return name
    if _looks_python(app_dir):
        return "python"
    if (app_dir / "index.html").is_file():
        return "static"
    raise StagingError(
        STEP_DETECT,
        f"no buildpack recognises the app: looked at the top of {app_dir.name or app_dir}"
        " for requirements.txt, a Procfile running python or *.py files (python)"
        " and for index.html (static)",
    )


def stage(
    app_dir: Path,
    out_dir: Path,
    cache_dir: Path,
    log: Callable[[str], None],
    command: str | None = None,
    hint: str | None = None,
    python: str = sys.executable,
    timeout: float = 600,
    runner: ToolRunner | None = None,
) -> StageResult:
    """Builds the droplet for ``app_dir`` at ``out_dir`` (replacing it) and describes it
    in ``out_dir/nimbus-droplet.json``. Raises StagingError naming the failed step."""
    buildpack = detect(app_dir, hint)
    log(f"-----> Buildpack: {buildpack}" + (" (as asked)" if hint else " (detected)"))
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        if buildpack == "python":
            job = _pip_job(partial, cache_dir, python, runner or SubprocessRunner(), log, timeout)
            result = _stage_python(app_dir, job, command)
        else:
            result = _stage_static(app_dir, partial, log, command)
        return _finish(partial, out_dir, result, log)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _pip_job(
    droplet: Path, cache_dir: Path, python: str, runner: ToolRunner, log: LogFn, timeout: float
) -> PipJob:
    deadline = time.monotonic() + timeout
    return PipJob(
        app_dir=droplet,
        deps_dir=droplet / ".deps",
        cache_dir=cache_dir,
        python=python,
        runner=runner,
        log=log,
        remaining=lambda: deadline - time.monotonic(),
    )


def _stage_python(app_dir: Path, job: PipJob, command: str | None) -> StageResult:
    job.log("-----> Python buildpack: copying app")
    _copy_app(app_dir, job.app_dir)
    start = command or _procfile_web(app_dir) or _default_python_command(app_dir)
    if (job.app_dir / REQUIREMENTS).is_file():
        job.log("-----> Python buildpack: installing requirements")
        try:
            install_requirements(job)
        except PipFailed as failed:
            raise _tool_failure(STEP_INSTALL, failed.outcome) from failed
    else:
        job.log("-----> Python buildpack: no requirements.txt; nothing to install")
    job.log(f"-----> Python buildpack: start command: {start}")
    return StageResult("python", "python", start, 0)


def _stage_static(
    app_dir: Path, partial: Path, log: Callable[[str], None], command: str | None
) -> StageResult:
    log("-----> Static buildpack: copying site into public/")
    _copy_app(app_dir, partial / "public", skip=PLATFORM_FILES)
    start = command or STATIC_COMMAND
    log(f"-----> Static buildpack: start command: {start}")
    return StageResult("static", "static", start, 0)


def _finish(
    partial: Path, out_dir: Path, result: StageResult, log: Callable[[str], None]
) -> StageResult:
    """Writes the droplet description, swaps the droplet into place and returns it."""
    size = sum(p.lstat().st_size for p in partial.rglob("*") if p.is_file() and not p.is_symlink())
    final = replace(result, size_bytes=size)
    (partial / DROPLET_JSON).write_text(json.dumps(asdict(final), indent=2) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)
    log(f"-----> Droplet ready: {size / (1 << 20):.1f} MiB")
    return final


def _copy_app(src: Path, dest: Path, skip: Sequence[str] = ()) -> None:
    """Copies the app, leaving out what a package leaves out and ``skip`` at the top."""
    rules = load_rules(src)

    def ignored(folder: str, names: list[str]) -> set[str]:
        rel = PurePosixPath(Path(folder).relative_to(src).as_posix())
        top_skip = set(skip) if rel == PurePosixPath(".") else set()
        is_dir = {n: (Path(folder) / n).is_dir() for n in names}
        return {n for n in names if n in top_skip or rules.ignores(rel / n, is_dir[n])}

    shutil.copytree(src, dest, symlinks=True, ignore=ignored)


def _looks_python(app_dir: Path) -> bool:
    procfile = app_dir / "Procfile"
    runs_python = procfile.is_file() and "python" in procfile.read_text(errors="replace")
    has_py = any(p.is_file() for p in app_dir.glob("*.py"))
    return (app_dir / REQUIREMENTS).is_file() or runs_python or has_py


def _procfile_web(app_dir: Path) -> str | None:
    procfile = app_dir / "Procfile"
    if not procfile.is_file():
        return None
    for line in procfile.read_text(errors="replace").splitlines():
        kind, sep, cmd = line.partition(":")
        if sep and kind.strip() == "web" and cmd.strip():
            return cmd.strip()
    return None


def _default_python_command(app_dir: Path) -> str:
    if (app_dir / "app.py").is_file():
        return "python3 app.py"
    raise StagingError(
        STEP_COMMAND,
        "no start command: give one with 'command:' in manifest.yml, add a Procfile with a"
        " 'web: ...' line, or name the entry point app.py",
    )


def _tool_failure(step: str, outcome: ToolOutcome) -> StagingError:
    """A StagingError quoting the tool's own error line (pip's last ``ERROR:`` line)."""
    lines = [line for line in outcome.tail if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    quoted = (errors or lines or ["(no output)"])[-1]
    if outcome.returncode is None:
        quoted = f"timed out ({quoted})"
    return StagingError(step, quoted.strip(), outcome.tail)
