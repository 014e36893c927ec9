"""One network's metadata proxy: HAProxy in the network's DHCP namespace, listening on
169.254.169.254:80, as Neutron's isolated-metadata proxy does.

Guests reach it by a host route to 169.254.169.254 through the DHCP port (DHCP option
121, see ``dhcp_config.opts_file``). It stamps each request with the network's id and the
guest's own source address (any copy of either header the guest sent is dropped first)
and passes it over a unix socket to the host's metadata service (``api.metadata``),
which answers about the server holding that address on that network and nothing else.
A unix socket, not TCP: the namespace has no route to the host, and needs none.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from activities.network import dnsmasq
from activities.network.base import METADATA_IP

NETWORK_HEADER = "X-Nimbus-Network-ID"
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class MetadataProxy:
    """What this host's proxies forward to, and the HAProxy binary that runs them."""

    socket: Path
    binary: str = "haproxy"


@dataclass(frozen=True)
class ProxyFiles:
    """Where one network's proxy keeps its configuration and pid file."""

    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "metadata-proxy.cfg"

    @property
    def pid(self) -> Path:
        return self.directory / "metadata-proxy.pid"


def config_text(network_id: str, socket: Path, pid: Path) -> str:
    """HAProxy's configuration for one network (text only)."""
    return f"""global
    daemon
    maxconn 256
    pidfile {pid}

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    option http-server-close

listen metadata
    bind {METADATA_IP}:80
    http-request del-header {NETWORK_HEADER}
    http-request set-header {NETWORK_HEADER} {network_id}
    http-request del-header X-Forwarded-For
    option forwardfor
    server metadata unix@{socket}
"""


def running_pid(files: ProxyFiles) -> int | None:
    """The pid of the live HAProxy that runs ``files``' configuration, if there is one."""
    try:
        pid = int(files.pid.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if dnsmasq.alive(pid) and str(files.config) in dnsmasq.cmdline(pid):
        return pid
    return None


def ensure(namespace: str, network_id: str, files: ProxyFiles, proxy: MetadataProxy) -> None:
    """Converge: the configuration written, one HAProxy running it in ``namespace``
    (restarted when the configuration changed). The namespace must already hold
    ``METADATA_IP`` on its DHCP port's device."""
    text = config_text(network_id, proxy.socket, files.pid)
    changed = not files.config.exists() or files.config.read_text() != text
    if changed:
        files.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        files.config.write_text(text)
    pid = running_pid(files)
    if pid is not None and not changed:
        return
    stop(files)
    subprocess.run(
        ["ip", "netns", "exec", namespace, proxy.binary, "-f", str(files.config)],
        check=True,
        capture_output=True,
        timeout=START_TIMEOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while running_pid(files) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the metadata proxy in {namespace} did not start")
        time.sleep(0.01)


def stop(files: ProxyFiles) -> None:
    """Stop the proxy running ``files`` (only that pid); nothing running is success."""
    pid = running_pid(files)
    if pid is not None:
        dnsmasq.terminate(pid)
    files.pid.unlink(missing_ok=True)
