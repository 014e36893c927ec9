"""The same contract for the real tool runner and its fake; real-only checks at the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from paas.tools import FakeToolRunner, ScriptedTool, SubprocessRunner, ToolOutcome

#: Runs a tool named "t" that prints these lines and exits with this status (None: hangs).
Play = Callable[[tuple[str, ...], "int | None", float], tuple[ToolOutcome, list[str]]]


def play_real(
    lines: tuple[str, ...], status: int | None, timeout: float
) -> tuple[ToolOutcome, list[str]]:
    end = "time.sleep(60)" if status is None else f"sys.exit({status})"
    program = f"import sys, time\nfor line in {list(lines)!r}: print(line, flush=True)\n{end}"
    logged: list[str] = []
    outcome = SubprocessRunner().run(
        "t", [sys.executable, "-c", program], Path("."), logged.append, timeout
    )
    return outcome, logged


def play_fake(
    lines: tuple[str, ...], status: int | None, timeout: float
) -> tuple[ToolOutcome, list[str]]:
    runner = FakeToolRunner(script={"t": ScriptedTool(lines, status)})
    logged: list[str] = []
    return runner.run("t", ["t"], Path("."), logged.append, timeout), logged


@pytest.fixture(params=["real", "fake"])
def play(request: pytest.FixtureRequest) -> Play:
    return play_real if request.param == "real" else play_fake


def test_every_line_reaches_the_log_in_order(play: Play) -> None:
    outcome, logged = play(("one", "two", "three"), 0, 30)
    assert logged == ["one", "two", "three"]
    assert outcome.ok and outcome.tail == ("one", "two", "three")


def test_a_failing_tool_reports_its_status_and_last_lines(play: Play) -> None:
    lines = tuple(f"line {i}" for i in range(30))
    outcome, logged = play((*lines, "ERROR: broken"), 3, 30)
    assert outcome.returncode == 3 and not outcome.ok
    assert len(outcome.tail) == 20 and outcome.tail[-1] == "ERROR: broken"
    assert len(logged) == 31


def test_a_tool_past_its_timeout_is_killed(play: Play) -> None:
    outcome, logged = play(("started",), None, 0.5)
    assert outcome.returncode is None
    assert logged[0] == "started" and "killed after 0.5 s" in logged[-1]


def test_fake_fails_at_the_named_tool_only() -> None:
    runner = FakeToolRunner(fail_at="b", fail_lines=("ERROR: no",))
    assert runner.run("a", ["a"], Path("."), print, 1).ok
    assert runner.run("b", ["b"], Path("."), print, 1) == ToolOutcome(1, ("ERROR: no",))
    assert [name for name, _ in runner.calls] == ["a", "b"]


def test_real_runner_passes_lines_while_the_tool_still_runs(tmp_path: Path) -> None:
    # The tool waits for a file the log callback writes on the first line: it can only
    # finish if that line was passed on before the tool exited.
    flag = tmp_path / "seen"
    program = (
        "import os, time\nprint('first', flush=True)\n"
        f"while not os.path.exists({str(flag)!r}): time.sleep(0.01)\nprint('second')"
    )

    def log(line: str) -> None:
        if line == "first":
            flag.touch()

    outcome = SubprocessRunner().run("t", [sys.executable, "-c", program], tmp_path, log, 10)
    assert outcome == ToolOutcome(0, ("first", "second"))


def test_real_runner_kills_the_tools_children_at_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = SubprocessRunner().run("t", ["sh", "-c", "sleep 30 & wait"], tmp_path, print, 0.5)
    assert outcome.returncode is None and time.monotonic() - started < 10


def test_real_runner_reports_a_program_that_cannot_start(tmp_path: Path) -> None:
    outcome = SubprocessRunner().run("t", [str(tmp_path / "none")], tmp_path, print, 5)
    assert outcome.returncode == 127 and "cannot start" in outcome.tail[0]


def test_real_runner_uses_the_environment_it_was_given(tmp_path: Path) -> None:
    runner = SubprocessRunner(env={"ONLY": "this"})
    program = "import os; print(sorted(k for k in os.environ if k != 'LC_CTYPE'))"
    outcome = runner.run("t", [sys.executable, "-c", program], tmp_path, print, 10)
    assert outcome.tail == ("['ONLY']",)
