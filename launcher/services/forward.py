"""Loopback ports of this machine, offered inside a host's network namespace.

A compute host simulated on this machine (``nimbus host add``) lives in a network
namespace of its own, with its own loopback; its worker and its guests' QEMU processes
still need the services the cloud runs on this machine's loopback: Temporal, the
database, Ceph's monitor and daemons, the API. This process listens on ``127.0.0.1:P``
inside the namespace for each port ``P`` and relays every connection to ``127.0.0.1:P``
outside, as a host's management network would carry it.

The listening sockets are made after entering the namespace and the outgoing ones after
leaving it (a socket stays in the namespace it was made in), so one process serves both
sides. Run: ``python -m launcher.services.forward --netns NAME --port P [--port P ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def inside(netns: str) -> Iterator[None]:
    """This thread in network namespace ``netns`` for the block, then back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def listeners(netns: str, ports: Iterable[int]) -> list[socket.socket]:
    """A listening socket on ``127.0.0.1:P`` inside ``netns`` for each port."""
    made = []
    with inside(netns):
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
            sock.setblocking(False)
            made.append(sock)
    return made


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


def _relay(port: int) -> object:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            out_reader, out_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            log.warning("127.0.0.1:%d refused a relayed connection: %s", port, exc)
            writer.close()
            return
        await asyncio.gather(_pipe(reader, out_writer), _pipe(out_reader, writer))
        for w in (writer, out_writer):
            with contextlib.suppress(OSError, RuntimeError):
                w.close()

    return handle


async def serve(netns: str, ports: list[int]) -> None:
    """Relay every port until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = [
        await asyncio.start_server(_relay(port), sock=sock)  # type: ignore[arg-type]
        for port, sock in zip(ports, listeners(netns, ports), strict=True)
    ]
    log.info("relaying %s into %s", ", ".join(map(str, ports)), netns)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netns", required=True)
    parser.add_argument("--port", type=int, action="append", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args.netns, sorted(set(args.port))))


if __name__ == "__main__":
    main()
