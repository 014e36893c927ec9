"""Running the build tools a buildpack calls (pip), streaming each output line as it comes.

``ToolRunner`` is the side effect; ``SubprocessRunner`` runs real programs and
``FakeToolRunner`` plays scripted ones for tests, failing at a named tool on request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

#: How many of a tool's last output lines an outcome keeps, to explain a failure.
TAIL_LINES = 20

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class ToolOutcome:
    """How a tool ended: its exit status (None if killed at the timeout) and last lines."""

    returncode: int | None
    tail: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the tool exited with status 0."""
        return self.returncode == 0


class ToolRunner(Protocol):
    def run(
        self, name: str, argv: Sequence[str], cwd: Path, log: LogFn, timeout: float
    ) -> ToolOutcome:
        """Runs ``argv`` in ``cwd``, passing each line of its stdout and stderr (merged) to
        ``log`` as it is printed; kills it and its children after ``timeout`` seconds.

        ``name`` says which tool this is (``pip wheel``), for logs and fault injection.
        Never raises for the tool's own failure: the outcome carries the status. Running
        it again runs the tool again; idempotence is the tool's (pip's) own.
        """
        ...


@dataclass(frozen=True)
class SubprocessRunner:
    """Runs real programs; ``env`` replaces the inherited environment when given."""

    env: Mapping[str, str] | None = None

    def run(
        self, name: str, argv: Sequence[str], cwd: Path, log: LogFn, timeout: float
    ) -> ToolOutcome:
        """See ``ToolRunner.run``."""
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(self.env) if self.env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,  # its own process group, so a timeout kills all of it
            )
        except OSError as exc:
            line = f"{name}: cannot start {argv[0]}: {exc.strerror}"
            log(line)
            return ToolOutcome(returncode=127, tail=(line,))
        return _follow(proc, log, timeout)


def _follow(proc: subprocess.Popen[str], log: LogFn, timeout: float) -> ToolOutcome:
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    expired = threading.Event()
    timer = threading.Timer(timeout, _kill_group, (proc, expired))
    timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\r\n")
            tail.append(line)
            log(line)
        status = proc.wait()
    finally:
        timer.cancel()
    if expired.is_set():
        line = f"killed after {timeout:g} s"
        tail.append(line)
        log(line)
        return ToolOutcome(returncode=None, tail=tuple(tail))
    return ToolOutcome(returncode=status, tail=tuple(tail))


def _kill_group(proc: subprocess.Popen[str], expired: threading.Event) -> None:
    expired.set()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass(frozen=True)
class ScriptedTool:
    """What a fake tool prints and how it exits (None: it hangs until the timeout)."""

    lines: tuple[str, ...] = ()
    returncode: int | None = 0


@dataclass
class FakeToolRunner:
    """Plays scripted tools by name; unscripted tools print nothing and succeed.

    ``fail_at`` names a tool that fails with exit status 1 and ``fail_lines`` as output.
    ``calls`` records every (name, argv) run, in order.
    """

    script: dict[str, ScriptedTool] = field(default_factory=dict)
    fail_at: str | None = None
    fail_lines: tuple[str, ...] = ("ERROR: injected failure",)
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def run(
        self, name: str, argv: Sequence[str], cwd: Path, log: LogFn, timeout: float
    ) -> ToolOutcome:
        """See ``ToolRunner.run``."""
        self.calls.append((name, tuple(argv)))
        tool = self.script.get(name, ScriptedTool())
        if name == self.fail_at:
            tool = ScriptedTool(self.fail_lines, 1)
        lines = list(tool.lines)
        if tool.returncode is None:
            lines.append(f"killed after {timeout:g} s")
        for line in lines:
            log(line)
        return ToolOutcome(returncode=tool.returncode, tail=tuple(lines[-TAIL_LINES:]))
