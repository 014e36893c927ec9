"""What the network driver tests share: spec factories with unique ids that clean up after
themselves, probes that read back what a driver did (from memory for the fake, from the host
for Linux), and fake guests (a namespace joined to a bridge by a veth named like a guest's
tap)."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities.network import netns
from activities.network.base import (
    NetworkSpec,
    bridge_name,
    router_namespace,
    tap_name,
    vxlan_name,
)
from activities.network.fake import FakeNetworkDriver
from activities.network.linux import LinuxNetworkDriver
from activities.network.metadata_proxy import MetadataProxy
from activities.network.nft_filter import group_set

Driver = FakeNetworkDriver | LinuxNetworkDriver


def sh(command: str) -> str:
    return subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout


def new_id() -> str:
    return str(uuid.uuid4())


def free_segment() -> int:
    """A VNI no VXLAN device on this host uses (they must be unique per host)."""
    while True:
        segment = random.randint(20000, 60000)
        if not Path(f"/sys/class/net/{vxlan_name(segment)}").exists():
            return segment


def random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


@contextmanager
def linux_driver() -> Iterator[LinuxNetworkDriver]:
    """A real driver with its own table and state directory (one ``nobody`` can read, as
    dnsmasq needs); whatever it still holds at the end is deleted, tables included."""
    if os.geteuid() != 0 or shutil.which("dnsmasq") is None:
        raise RuntimeError("needs root, dnsmasq and nftables: run `make install` as root")
    state = Path(tempfile.mkdtemp(prefix="nimbus-net-"))
    state.chmod(0o755)
    proxy = MetadataProxy(state / "metadata.sock")
    driver = LinuxNetworkDriver(state / "state", table=f"t{uuid.uuid4().hex[:10]}", metadata=proxy)
    try:
        yield driver
    finally:
        clean(driver)
        shutil.rmtree(state, ignore_errors=True)


def clean(driver: Driver) -> None:
    """Delete every object ``driver`` holds, in dependency order."""
    if isinstance(driver, FakeNetworkDriver):
        driver.faults.clear()
        return
    records = driver.records
    for router_id in records.ids("routers"):
        driver.delete_router(router_id)
    for network_id in records.ids("dhcp"):
        driver.delete_dhcp(network_id)
    for port_id in records.ids("filters"):
        driver.remove_port_filter(port_id)
    for group_id in records.ids("groups"):
        driver.delete_group(group_id)
    for network_id in records.ids("networks"):
        driver.delete_network(network_id)
    driver.tables.drop_tables(lambda: True)


@dataclass
class Probe:
    """Reads back from a driver what its ``state()`` does not say."""

    driver: Driver

    @property
    def fake(self) -> FakeNetworkDriver | None:
        return self.driver if isinstance(self.driver, FakeNetworkDriver) else None

    def flood(self, spec: NetworkSpec) -> set[str]:
        """The VTEPs the network's unknown and broadcast traffic is sent to."""
        if self.fake:
            return set(self.fake.networks[spec.network_id].peers)
        entries = json.loads(sh(f"bridge -j fdb show dev {vxlan_name(spec.segment)}"))
        return {e["dst"] for e in entries if e["mac"] == "00:00:00:00:00:00"}

    def leases(self, network_id: str) -> set[tuple[str, str]]:
        """(mac, ip) of each lease the DHCP server holds."""
        if self.fake:
            return {(lease.mac, lease.ip) for lease in self.fake.dhcp[network_id].leases}
        assert isinstance(self.driver, LinuxNetworkDriver)
        hosts = self.driver.records.root / "dhcp" / network_id / "hosts"
        lines = [line.split(",") for line in hosts.read_text().splitlines()]
        return {(fields[0], fields[1]) for fields in lines}

    def router_addresses(self, router_id: str) -> dict[str, set[str]]:
        """Addresses (CIDR form) of each qr-/qg- device in the router, by device."""
        if self.fake:
            spec = self.fake.routers[router_id]
            found = {f"qr-{p.port_id[:11]}": {p.address} for p in spec.interfaces}
            if spec.gateway:
                floating = {f"{f.floating_ip}/32" for f in spec.floating}
                found[f"qg-{spec.gateway.port_id[:11]}"] = {spec.gateway.address, *floating}
            return found
        links = json.loads(sh(f"ip -n {router_namespace(router_id)} -j addr show"))
        return {
            link["ifname"]: {
                f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a["family"] == "inet"
            }
            for link in links
            if link["ifname"].startswith(("qr-", "qg-"))
        }

    def members(self, group_id: str) -> set[str]:
        if self.fake:
            return set(self.fake.groups[group_id])
        assert isinstance(self.driver, LinuxNetworkDriver)
        table = self.driver.tables.table
        found: set[str] = set()
        for version in (4, 6):
            out = json.loads(sh(f"nft -j list set inet {table} {group_set(group_id, version)}"))
            found |= {str(e) for e in out["nftables"][1]["set"].get("elem", [])}
        return found

    def remove_tables_behind_its_back(self) -> None:
        if self.fake:
            self.fake.filters.clear()
            self.fake.networks.clear()
        else:
            assert isinstance(self.driver, LinuxNetworkDriver)
            table = self.driver.tables.table
            sh(f"nft delete table inet {table}; nft delete table bridge {table}")

    def remove_bridge_behind_its_back(self, network_id: str) -> None:
        if self.fake:
            self.fake.networks.pop(network_id)
        else:
            sh(f"ip link del {bridge_name(network_id)}")


# -- fake guests ---------------------------------------------------------------------------


@dataclass
class Guest:
    """A namespace standing for a VM: ``eth0`` inside, ``tap<id11>`` on the bridge."""

    port_id: str
    namespace: str
    mac: str
    ip: str
    #: The tag of the port's filter, once it has one.
    tag: int = 0
    servers: list[Any] = field(default_factory=list)

    @property
    def tap(self) -> str:
        return tap_name(self.port_id)

    def ip_cmd(self, args: str) -> str:
        return sh(f"ip -n {self.namespace} {args}")

    def socket(self, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket that lives in the guest's namespace."""
        return netns.run_in(self.namespace, lambda: socket.socket(socket.AF_INET, kind))

    def listen(self, port: int) -> None:
        """A TCP port that completes handshakes (the kernel does; nobody needs to accept)."""
        server = self.socket()
        server.bind(("0.0.0.0", port))
        server.listen(16)
        self.servers.append(server)

    def connects(self, ip: str, port: int, source: str | None = None, timeout: float = 0.5) -> bool:
        """Whether a TCP connection from the guest (from ``source``, if given) to
        ``ip:port`` is established."""
        with self.socket() as client:
            client.settimeout(timeout)
            if source:
                client.bind((source, 0))
            try:
                client.connect((ip, port))
            except OSError:
                return False
            return True


def add_guest(
    bridge: str,
    cidr: str | None,
    mac: str | None = None,
    gateway: str | None = None,
    mtu: int = 1450,
    port_id: str | None = None,
) -> Guest:
    """A guest on ``bridge`` with address ``cidr`` (None: none, as before DHCP)."""
    port_id = port_id or new_id()
    guest = Guest(port_id, f"tguest-{port_id}", mac or random_mac(), (cidr or "").split("/")[0])
    netns.create(guest.namespace)
    sh(f"ip link add {guest.tap} type veth peer name eth0 netns {guest.namespace}")
    sh(f"ip link set {guest.tap} master {bridge} mtu {mtu} up")
    guest.ip_cmd(f"link set eth0 address {guest.mac} mtu {mtu} up")
    if cidr:
        guest.ip_cmd(f"addr add {cidr} dev eth0")
    if gateway:
        guest.ip_cmd(f"route add default via {gateway}")
    return guest


def remove_guest(guest: Guest) -> None:
    for server in guest.servers:
        server.close()
    subprocess.run(["ip", "link", "del", guest.tap], capture_output=True)
    netns.remove(guest.namespace)


def leftovers(fragments: list[str]) -> dict[str, set[str]]:
    """Namespaces, links, nft tables and live dnsmasq and HAProxy (metadata proxy)
    processes whose names hold one of ``fragments`` (ids, table and device names of a
    test)."""
    from activities.network.dnsmasq import alive, cmdline

    links = {link["ifname"] for link in json.loads(sh("ip -j link show"))}
    tables = set(sh("nft list tables").splitlines())
    commands = [
        " ".join(cmdline(int(pid)))
        for pid in os.listdir("/proc")
        if pid.isdigit() and alive(int(pid))
    ]
    found = {
        "namespaces": netns.names(),
        "links": links,
        "tables": tables,
        "dnsmasq": {command for command in commands if "dnsmasq" in command},
        "haproxy": {command for command in commands if "haproxy" in command},
    }
    return {
        kind: {x for x in items if any(f in x for f in fragments)} for kind, items in found.items()
    }
