from __future__ import annotations

import sys
from pathlib import Path

from launcher.services import process


def test_start_records_and_stop_ends_exactly_that_process(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    pid = process.start("sleeper", argv, tmp_path / "run", tmp_path / "log")
    assert process.running_pid(tmp_path / "run", "sleeper") == pid
    assert process.start("sleeper", argv, tmp_path / "run", tmp_path / "log") == pid
    assert process.stop("sleeper", tmp_path / "run")
    assert not process.is_running(pid)
    assert process.running_pid(tmp_path / "run", "sleeper") is None
    assert not process.stop("sleeper", tmp_path / "run")
