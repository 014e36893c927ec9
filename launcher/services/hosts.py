"""More compute hosts on this one machine, for tests and demonstrations (``nimbus host
add|start|stop|remove``).

Each such host is what a hypervisor host of its own would be, made of the same parts:

- a network namespace ``nimbus-host-<name>``, joined to the cloud's underlay bridge by a
  veth pair, with a VTEP address of its own on the underlay (``Settings.underlay_cidr``):
  tenant networks reach it over VXLAN like any other host;
- its own libvirtd and virtlogd, in that namespace and in a mount namespace of their own
  (their state, sockets, logs and domain definitions under the host's folder), so the
  guests' QEMU processes and taps are in the host's namespace too;
- its own worker, in the namespace, polling only its host's task queue (a compute-only
  host: no workflows, no DHCP servers or routers), registering and beating like any host;
- a relay (``launcher.services.forward``) offering, on the namespace's loopback, the
  services the cloud runs on this machine's: Temporal, the database, Ceph and the API.

Stopping a host powers it off: its worker, its libvirtd and every guest in it end at
once, as when a machine fails. Starting it again brings its libvirtd and worker back;
the worker cleans up after servers evacuated meanwhile. Everything a host is lives in
its folder (``<data dir>/hosts/<name>``), its namespace and its veth; removing the host
removes all three.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from launcher.services import process
from launcher.services.libvirtd import wait_answering
from nimbus import pidfile
from nimbus.config import CHECKOUT, Settings, settings_env
from nimbus.errors import BackendUnavailable, Conflict, InvalidSpec, NotFound

#: The ports Ceph's daemons take (``ms_bind_port_min`` upwards), relayed with the monitor's.
CEPH_DAEMON_PORTS = range(6800, 6832)
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


@dataclass(frozen=True)
class LocalHost:
    name: str
    #: Its place on the underlay: the host's VTEP is the range's address of this index.
    index: int
    folder: Path
    #: The cloud's nftables table names its hosts' namespaces, so two clouds on one
    #: machine (tests) never share one.
    cloud: str = "nimbus"

    @property
    def netns(self) -> str:
        return f"{self.cloud}-host-{self.name}"

    @property
    def veth(self) -> str:
        return f"vh{zlib.crc32(self.netns.encode()):08x}"

    @property
    def libvirt_uri(self) -> str:
        return f"qemu:///system?socket={self.folder / 'libvirt' / 'run' / 'libvirt-sock'}"


def underlay_address(settings: Settings, index: int) -> str:
    return str(ipaddress.ip_network(settings.underlay_cidr)[index])


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise BackendUnavailable(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ["-n", netns] if netns else []
    return _ip(*prefix, "link", "show", name, check=False).returncode == 0


def ensure_underlay(settings: Settings) -> str:
    """The underlay bridge with the cloud's own host's VTEP address on it; that address.
    Only hosts of this machine are on it: nothing is forwarded to or from elsewhere."""
    address = underlay_address(settings, 1)
    prefix = ipaddress.ip_network(settings.underlay_cidr).prefixlen
    if not _link_exists(settings.underlay_bridge):
        _ip("link", "add", settings.underlay_bridge, "type", "bridge")
    shown = _ip("-4", "addr", "show", "dev", settings.underlay_bridge).stdout
    if f"inet {address}/" not in shown:
        _ip("addr", "add", f"{address}/{prefix}", "dev", settings.underlay_bridge)
    _ip("link", "set", settings.underlay_bridge, "up")
    return address


def hosts_dir(settings: Settings) -> Path:
    return settings.data_dir / "hosts"


def local_hosts(settings: Settings) -> list[LocalHost]:
    """The hosts added on this machine, by name."""
    found = []
    if hosts_dir(settings).is_dir():
        for folder in sorted(hosts_dir(settings).iterdir()):
            index = folder / "index"
            if index.exists():
                found.append(
                    LocalHost(folder.name, int(index.read_text()), folder, settings.nft_table)
                )
    return found


def local_host(settings: Settings, name: str) -> LocalHost:
    for host in local_hosts(settings):
        if host.name == name:
            return host
    raise NotFound(f"no host {name} was added on this machine (nimbus host add {name})")


def host_settings(settings: Settings, host: LocalHost) -> Settings:
    """The settings of the host's worker: the cloud's, with its own name, VTEP, libvirt
    and folder (instances, network state and logs), compute only."""
    return replace(
        settings,
        data_dir=host.folder / "data",
        database_url=settings.db_url,
        ceph_conf=settings.ceph_conf_path,
        ceph_keyring=settings.ceph_keyring_path,
        host_name=host.name,
        vtep_address=underlay_address(settings, host.index),
        libvirt_uri=host.libvirt_uri,
        control_worker=False,
        network_node=False,
    )


def add(settings: Settings, name: str) -> LocalHost:
    """Make the host (namespace, veth, folders) if it is new, and start it."""
    if not _NAME.match(name):
        raise InvalidSpec(
            "a host name is 1 to 20 lower-case letters, digits and dashes, starting with a letter"
        )
    if name == settings.host_name:
        raise Conflict(f"{name} is this machine's own host")
    ensure_underlay(settings)
    existing = {h.name: h for h in local_hosts(settings)}
    host = existing.get(name)
    if host is None:
        taken = {h.index for h in existing.values()}
        size = ipaddress.ip_network(settings.underlay_cidr).num_addresses
        index = next((i for i in range(2, size - 1) if i not in taken), None)
        if index is None:
            raise Conflict(f"the underlay {settings.underlay_cidr} has no address left")
        host = LocalHost(name, index, hosts_dir(settings) / name, settings.nft_table)
        host.folder.mkdir(parents=True, exist_ok=True)
        (host.folder / "index").write_text(f"{index}\n")
    _plumb(settings, host)
    start(settings, host)
    return host


def _plumb(settings: Settings, host: LocalHost) -> None:
    """The namespace, its loopback, and the veth between it and the underlay bridge."""
    if _ip("netns", "list").stdout.split().count(host.netns) == 0:
        _ip("netns", "add", host.netns)
    _ip("-n", host.netns, "link", "set", "lo", "up")
    if not _link_exists("vtep0", host.netns):
        if _link_exists(host.veth):
            _ip("link", "del", host.veth)
        _ip("link", "add", host.veth, "type", "veth", "peer", "name", "vtep0")
        _ip("link", "set", "vtep0", "netns", host.netns)
    prefix = ipaddress.ip_network(settings.underlay_cidr).prefixlen
    address = f"{underlay_address(settings, host.index)}/{prefix}"
    if address not in _ip("-n", host.netns, "-4", "addr", "show", "dev", "vtep0").stdout:
        _ip("-n", host.netns, "addr", "add", address, "dev", "vtep0")
    _ip("-n", host.netns, "link", "set", "vtep0", "up")
    _ip("link", "set", host.veth, "master", settings.underlay_bridge, "up")


def _relayed_ports(settings: Settings) -> list[int]:
    from urllib.parse import urlsplit

    from launcher.services import ceph_conf

    ports = {settings.temporal_port, settings.api_port, *CEPH_DAEMON_PORTS}
    if settings.rgw_port:
        ports.add(settings.rgw_port)
    conf = Path(settings.ceph_conf_path)
    if conf.exists():
        ports.add(ceph_conf.read_identity(conf).mon_port)
    url = urlsplit(settings.db_url)
    if url.hostname in ("127.0.0.1", "localhost") and url.port:
        ports.add(url.port)
    return sorted(ports)


def _libvirt_folders(host: LocalHost) -> dict[str, Path]:
    """The system folders libvirtd and virtlogd keep state in, and the host's own copy
    of each, mounted over them in the daemons' mount namespace."""
    base = host.folder / "libvirt"
    return {
        "/run/libvirt": base / "run",
        "/var/lib/libvirt": base / "lib",
        "/var/cache/libvirt": base / "cache",
        "/var/log/libvirt": base / "log",
        "/etc/libvirt": base / "etc",
    }


def _prepare_libvirt(host: LocalHost) -> None:
    folders = _libvirt_folders(host)
    etc = folders["/etc/libvirt"]
    if not etc.exists():
        # The machine's settings (qemu.conf's user and no security driver) without its
        # domains or secrets: the host's libvirtd defines its own.
        shutil.copytree(
            "/etc/libvirt",
            etc,
            ignore=lambda folder, names: [
                n for n in names if n.endswith(".xml") or n in ("secrets", "autostart")
            ],
        )
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    (folders["/var/log/libvirt"] / "qemu").mkdir(exist_ok=True)


def start(settings: Settings, host: LocalHost) -> None:
    """The relay, libvirtd and the worker of the host, those not running already; waits
    until libvirtd answers."""
    from launcher.services.cloud import with_gateway_port

    settings = with_gateway_port(settings)
    env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}
    logs = host.folder / "logs"
    run = host.folder / "run"
    ports = [arg for port in _relayed_ports(settings) for arg in ("--port", str(port))]
    relay = [sys.executable, "-m", "launcher.services.forward", "--netns", host.netns, *ports]
    process.start("relay", relay, run, logs, env, cwd=CHECKOUT)
    _prepare_libvirt(host)
    mounts = " && ".join(
        f"mount --bind {src} {target}" for target, src in _libvirt_folders(host).items()
    )
    script = (
        f"{mounts} && virtlogd --daemon -p /run/libvirt/virtlogd.pid"
        " && exec libvirtd -p /run/libvirt/libvirtd.pid"
    )
    daemons = ["ip", "netns", "exec", host.netns]
    daemons += ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    process.start("libvirtd", daemons, run, logs, env)
    wait_answering(host.libvirt_uri, 60, logs / "libvirtd.log")
    own = host_settings(settings, host)
    own.data_dir.mkdir(parents=True, exist_ok=True)
    answer = settings.data_dir / "domain-type"
    if answer.exists():
        shutil.copy(answer, own.data_dir / "domain-type")
    worker_env = {**os.environ, **settings_env(own), "PYTHONUNBUFFERED": "1"}
    worker = ["ip", "netns", "exec", host.netns, sys.executable, "-m", "launcher.cli", "worker"]
    process.start("worker", worker, run, logs, worker_env, cwd=CHECKOUT)


def running(host: LocalHost) -> dict[str, bool]:
    run = host.folder / "run"
    return {name: process.running_pid(run, name) is not None for name in _PARTS}


_PARTS = ("worker", "libvirtd", "relay")


def stop(settings: Settings, host: LocalHost) -> list[int]:
    """Power the host off: its worker, libvirtd, virtlogd and every guest in its
    namespace end (SIGKILL: a failure, not a shutdown); the PIDs ended."""
    run = host.folder / "run"
    ended = []
    for name in _PARTS:
        pid = process.running_pid(run, name)
        if pid is not None:
            pidfile.terminate(pid, 10)
            ended.append(pid)
        process.pid_file(run, name).unlink(missing_ok=True)
    # What is left in the namespace is the host's own: virtlogd and the guests' QEMU.
    if host.netns in _ip("netns", "list").stdout.split():
        for pid in map(int, _ip("netns", "pids", host.netns).stdout.split()):
            pidfile.terminate(pid, 10)
            ended.append(pid)
    return ended


def remove(settings: Settings, host: LocalHost) -> None:
    """Stop the host and remove its namespace, veth and folder."""
    stop(settings, host)
    if host.netns in _ip("netns", "list").stdout.split():
        _ip("netns", "del", host.netns)
    if _link_exists(host.veth):
        _ip("link", "del", host.veth)
    shutil.rmtree(host.folder, ignore_errors=True)


def stop_all(settings: Settings) -> list[str]:
    """Stop every host added on this machine (``nimbus down``); their names."""
    stopped = []
    for host in local_hosts(settings):
        if any(running(host).values()):
            stop(settings, host)
            stopped.append(host.name)
    return stopped


def purge(settings: Settings) -> None:
    """Remove every host added on this machine and the underlay bridge (a cloud that is
    thrown away: tests)."""
    for host in local_hosts(settings):
        remove(settings, host)
    if _link_exists(settings.underlay_bridge):
        _ip("link", "del", settings.underlay_bridge)
