"""The relay that offers this machine's loopback services inside a simulated host's
network namespace (``launcher.services.forward``): a connection made to ``127.0.0.1:P``
inside the namespace reaches what listens on ``127.0.0.1:P`` outside, both ways, and a
port nothing listens on outside is refused inside too. Traffic stays on loopback and in
the namespace the test makes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from nimbus.config import CHECKOUT
from tests.support.temporal_server import free_port

pytestmark = pytest.mark.network

NETNS = f"nimbusrelay{os.getpid()}"


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.fail("needs root: run `make test` as root")
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    try:
        yield NETNS
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data[::-1])

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def _inside(netns: str, port: int, payload: bytes) -> subprocess.CompletedProcess[str]:
    probe = (
        "import socket, sys\n"
        f"s = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
        f"s.sendall({payload!r}); s.shutdown(socket.SHUT_WR)\n"
        "data = b''\n"
        "while chunk := s.recv(65536): data += chunk\n"
        "sys.stdout.write(data.decode())\n"
    )
    return subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_port_outside_is_reached_from_inside_and_a_silent_one_is_refused(netns: str) -> None:
    server, port = _echo_server()
    silent = free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "launcher.services.forward", "--netns", netns]
        + ["--port", str(port), "--port", str(silent)],
        cwd=CHECKOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            done = _inside(netns, port, b"hello through the relay" * 1000)
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done.stdout == (b"hello through the relay" * 1000)[::-1].decode(), done.stderr
        refused = _inside(netns, silent, b"anyone?")
        assert refused.stdout == ""
    finally:
        relay.terminate()
        relay.wait(10)
        server.close()
