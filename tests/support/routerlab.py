"""What the router tests share: a running router on a free loopback port, requests sent to
it with a Host header, and named HTTP servers inside a namespace the test creates.

Everything is stopped by PID and removed afterwards, even when a test fails.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from launcher.services.router import RouterHandle, ensure_router, stop_router
from nimbus import pidfile
from paas.router.haproxy import HaproxyRouter
from tests.support.netlab import in_namespace, ip, ip_quiet, unique_name

NAMED_HTTP = Path(__file__).with_name("named_http.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_router(
    work: Path, object_store: str = ""
) -> Iterator[tuple[HaproxyRouter, RouterHandle]]:
    """HAProxy serving ``work/router`` on a free port; stopped afterwards."""
    run_dir = work / "run"
    handle = ensure_router(
        work / "router",
        work / "log",
        run_dir,
        "127.0.0.1",
        free_port(),
        object_store=object_store,
    )
    try:
        yield HaproxyRouter(work / "router"), handle
    finally:
        stop_router(run_dir)


def get(port: int, host: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET / from the router at ``127.0.0.1:port`` for ``host``: status and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextlib.contextmanager
def listener(address: str = "127.0.0.1") -> Iterator[int]:
    """A socket listening on ``address`` at a free port (a TCP check passes on it)."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


@dataclass
class Backends:
    """Named HTTP servers inside one namespace: ``addresses[i]`` answers ``s<i>``."""

    namespace: str
    port: int
    addresses: list[str]
    pids: list[int]

    def kill(self, index: int) -> None:
        pidfile.terminate(self.pids[index])


@contextlib.contextmanager
def backends(count: int) -> Iterator[Backends]:
    """A namespace ``rtr-<hex>`` with ``count`` named servers, each on its own loopback
    address of that namespace (127.0.1.11, .12...) at a port free on the host too: a router
    that failed to connect from the namespace would find nothing, and no packet can leave
    the machine whatever happens."""
    ns, port = unique_name("rtr-"), free_port()
    ip("netns", "add", ns)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ip("-n", ns, "link", "set", "lo", "up")
        addresses = [f"127.0.1.{11 + index}" for index in range(count)]
        for index, address in enumerate(addresses):
            argv = [sys.executable, str(NAMED_HTTP), address, str(port), f"s{index}"]
            procs.append(subprocess.Popen(in_namespace(ns, *argv)))
        lab = Backends(ns, port, addresses, [proc.pid for proc in procs])
        assert wait_for(lambda: all(_answers(ns, a, port) for a in addresses)), "no backends"
        yield lab
    finally:
        for proc in procs:
            pidfile.terminate(proc.pid)
            proc.wait(timeout=10)
        ip_quiet("netns", "del", ns)


def _answers(ns: str, address: str, port: int) -> bool:
    probe = f"import socket; socket.create_connection(('{address}', {port}), timeout=1)"
    command = in_namespace(ns, sys.executable, "-c", probe)
    return subprocess.run(command, capture_output=True).returncode == 0
