"""A real Temporal dev server for tests, on free loopback ports, in memory."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from launcher.services.process import port_open, wait_until
from launcher.services.temporal import DYNAMIC_CONFIG, temporal_binary
from workflows.common import SEARCH_ATTRIBUTES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def temporal_dev_server(log: Path, attributes: bool = True) -> Iterator[str]:
    """Run ``temporal server start-dev --headless``; yield its address; stop it. Without
    ``attributes`` it knows none of Nimbus's search attributes."""
    port = free_port()
    argv = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        *DYNAMIC_CONFIG,  # as the cloud's server: tasks reach the workers without a wait
    ]
    for key in SEARCH_ATTRIBUTES if attributes else []:
        argv += ["--search-attribute", f"{key.name}=Keyword"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        if not wait_until(lambda: port_open("127.0.0.1", port), 60):
            raise RuntimeError(f"temporal dev server did not start; see {log}")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
