"""Throw-away host networking for tests: a bridge, a namespace joined to it by a veth, and
a dnsmasq serving static leases inside that namespace.

Everything is made under names the test chooses and removed by the context managers even
when the test fails; nothing touches the host's other interfaces. dnsmasq runs in the
foreground as this process's child, so it is stopped by its PID and reaped.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from nimbus import pidfile


def unique_name(prefix: str) -> str:
    """``prefix`` and 8 random hex digits: an interface name of at most 15 characters."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    assert len(name) <= 15, name
    return name


def ip(*args: str) -> None:
    """Run ``ip`` (iproute2); raise with its stderr if it fails."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def ip_quiet(*args: str) -> None:
    """Run ``ip`` for cleanup: what is already gone is fine."""
    subprocess.run(["ip", *args], capture_output=True)


@contextlib.contextmanager
def bridge(name: str) -> Iterator[str]:
    """A Linux bridge, up, removed afterwards."""
    ip("link", "add", "name", name, "type", "bridge")
    try:
        ip("link", "set", name, "up")
        yield name
    finally:
        ip_quiet("link", "del", name)


@contextlib.contextmanager
def namespace_on(bridge_name: str, address: str) -> Iterator[tuple[str, str]]:
    """A network namespace joined to the bridge by a veth whose inner end has ``address``
    (CIDR form). Yields the namespace and its inner interface; both go afterwards."""
    ns, outer, inner = unique_name("nmt"), unique_name("vo"), unique_name("vi")
    ip("netns", "add", ns)
    try:
        ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        ip("link", "set", outer, "master", bridge_name, "up")
        ip("-n", ns, "addr", "add", address, "dev", inner)
        ip("-n", ns, "link", "set", inner, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        yield ns, inner
    finally:
        ip_quiet("link", "del", outer)
        ip_quiet("netns", "del", ns)


def in_namespace(ns: str, *argv: str) -> list[str]:
    """The command line running ``argv`` inside the namespace."""
    return ["ip", "netns", "exec", ns, *argv]


@contextlib.contextmanager
def dnsmasq(
    ns: str, interface: str, leases: Mapping[str, str], mtu: int, work: Path
) -> Iterator[int]:
    """dnsmasq in ``ns`` on ``interface`` handing out only ``leases`` (MAC -> IPv4), DNS
    off, MTU as option 26. Yields its PID; it is stopped by that PID afterwards."""
    first = next(iter(leases.values()))
    subnet = first.rsplit(".", 1)[0] + ".0"
    argv = [
        "dnsmasq",
        "--no-daemon",
        "--port=0",
        "--bind-interfaces",
        f"--interface={interface}",
        "--except-interface=lo",
        f"--dhcp-range={subnet},static",
        f"--dhcp-option=26,{mtu}",
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        f"--dhcp-leasefile={work / 'leases'}",
        *(f"--dhcp-host={mac},{address}" for mac, address in leases.items()),
    ]
    log = (work / "dnsmasq.log").open("wb")
    proc = subprocess.Popen(in_namespace(ns, *argv), stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)
        if pidfile.start_time(proc.pid) is None:
            raise RuntimeError(f"dnsmasq did not start: {(work / 'dnsmasq.log').read_text()}")
        yield proc.pid
    finally:
        pidfile.terminate(proc.pid)
        proc.wait(timeout=10)
        log.close()
