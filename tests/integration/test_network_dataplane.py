"""Traffic through the Linux network driver, between fake guests: namespaces joined to the
bridges by veths named exactly like guests' taps. Traffic stays inside the namespaces and
bridges the tests make, or goes to the host's address on the test's own external bridge."""

from __future__ import annotations

import http.server
import ipaddress
import itertools
import json
import os
import random
import signal
import socket
import socketserver
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from activities.network import dnsmasq, metadata_proxy
from activities.network.base import (
    DhcpLease,
    DhcpSpec,
    DhcpSubnet,
    FloatingNat,
    NetworkSpec,
    PortFilter,
    RouterPort,
    RouterSpec,
    SecurityRule,
    bridge_name,
    short,
    vxlan_name,
)
from activities.network.dhcp_config import DnsmasqFiles
from activities.network.linux import LinuxNetworkDriver
from activities.network.metadata_proxy import ProxyFiles
from tests.support.network import (
    Guest,
    add_guest,
    free_segment,
    leftovers,
    linux_driver,
    new_id,
    random_mac,
    remove_guest,
    sh,
)

pytestmark = pytest.mark.network

SUBNET = DhcpSubnet("subnet-1", "10.0.0.0/24", "10.0.0.1")
EGRESS = SecurityRule("egress")
WEB = SecurityRule("ingress", protocol="tcp", port_min=80, port_max=80)
MakeGuest = Callable[..., Guest]


@pytest.fixture
def driver() -> Iterator[LinuxNetworkDriver]:
    with linux_driver() as made:
        yield made


@pytest.fixture
def make_guest() -> Iterator[MakeGuest]:
    """Fake guests on a network's bridge; removed (with their servers) afterwards."""
    made: list[Guest] = []

    def make(network: NetworkSpec, cidr: str | None, **options: str) -> Guest:
        made.append(add_guest(bridge_name(network.network_id), cidr, **options))
        return made[-1]

    yield make
    for guest in made:
        remove_guest(guest)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; ended by their pid afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(5)


_tags = itertools.count(1)


def tenant(driver: LinuxNetworkDriver) -> NetworkSpec:
    spec = NetworkSpec(new_id(), free_segment())
    driver.ensure_network(spec)
    return spec


def protect(
    driver: LinuxNetworkDriver, net: NetworkSpec, guest: Guest, *rules: SecurityRule, **more: object
) -> PortFilter:
    """Give ``guest``'s port a filter with these rules (its tag stays the same)."""
    guest.tag = guest.tag or next(_tags)
    fields = {"ips": (guest.ip,) if guest.ip else (), "rules": rules, **more}
    spec = PortFilter(guest.port_id, net.network_id, net.segment, guest.tag, guest.mac, **fields)  # type: ignore[arg-type]
    driver.ensure_port_filter(spec)
    return spec


def udhcpc(guest: Guest, work: Path) -> dict[str, str]:
    """What a DHCP client in the guest is offered (it does not configure anything)."""
    script, out = work / f"dhcp-{guest.port_id}.sh", work / f"lease-{guest.port_id}"
    script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && env > {out}\nexit 0\n')
    script.chmod(0o755)
    command = f"ip netns exec {guest.namespace} busybox udhcpc -i eth0 -n -q -t 4 -T 1 -O mtu"
    command += " -O staticroutes"
    sh(f"{command} -s {script}")
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)


# -- (a) DHCP ------------------------------------------------------------------------------


def test_a_guest_gets_its_address_mtu_and_router_by_dhcp(driver, make_guest, tmp_path):
    net = tenant(driver)
    mac = random_mac()
    lease = DhcpLease(mac, "10.0.0.5", "vm-5")
    driver.ensure_dhcp(
        DhcpSpec(net.network_id, new_id(), random_mac(), ("10.0.0.2/24",), (SUBNET,), (lease,))
    )
    guest = make_guest(net, None, mac=mac)
    protect(driver, net, guest, **{"ips": ("10.0.0.5",)})
    offered = udhcpc(guest, tmp_path)
    assert offered["ip"] == "10.0.0.5" and offered["subnet"] == "255.255.255.0"
    assert offered["mtu"] == "1450" and offered["router"] == "10.0.0.1"
    assert offered["staticroutes"] == "169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1"
    assert "dns" not in offered


def test_an_address_freed_by_one_port_is_served_to_the_next(driver, make_guest, tmp_path):
    """dnsmasq remembers what it leased; when the address goes to another port's MAC (the
    first port was deleted), the new guest must still get it."""
    net = tenant(driver)
    first, second = make_guest(net, None), make_guest(net, None)
    spec = DhcpSpec(net.network_id, new_id(), random_mac(), ("10.0.0.2/24",), (SUBNET,))
    driver.ensure_dhcp(replace(spec, leases=(DhcpLease(first.mac, "10.0.0.5", "a"),), generation=1))
    assert udhcpc(first, tmp_path)["ip"] == "10.0.0.5"
    driver.ensure_dhcp(
        replace(spec, leases=(DhcpLease(second.mac, "10.0.0.5", "b"),), generation=2)
    )
    assert udhcpc(second, tmp_path)["ip"] == "10.0.0.5"


def test_without_a_gateway_no_router_is_offered(driver, make_guest, tmp_path):
    net = tenant(driver)
    guest = make_guest(net, None)
    subnet = DhcpSubnet("subnet-2", "10.0.0.0/24", None, ("10.0.0.53",))
    lease = DhcpLease(guest.mac, "10.0.0.5", "vm-5")
    driver.ensure_dhcp(
        DhcpSpec(net.network_id, new_id(), random_mac(), ("10.0.0.2/24",), (subnet,), (lease,))
    )
    offered = udhcpc(guest, tmp_path)
    assert "router" not in offered and offered["dns"].strip() == "10.0.0.53"


def test_new_leases_reload_dnsmasq_and_a_dead_one_is_restarted(driver, make_guest, tmp_path):
    net = tenant(driver)
    one, two = make_guest(net, None), make_guest(net, None)
    spec = DhcpSpec(net.network_id, new_id(), random_mac(), ("10.0.0.2/24",), (SUBNET,))
    driver.ensure_dhcp(
        DhcpSpec(**{**spec.__dict__, "leases": (DhcpLease(one.mac, "10.0.0.5", "a"),)})
    )
    files = DnsmasqFiles(driver.records.root / "dhcp" / net.network_id)
    pid = dnsmasq.running_pid(files)
    both = (DhcpLease(one.mac, "10.0.0.5", "a"), DhcpLease(two.mac, "10.0.0.6", "b"))
    driver.ensure_dhcp(DhcpSpec(**{**spec.__dict__, "leases": both}))
    assert dnsmasq.running_pid(files) == pid
    assert udhcpc(two, tmp_path)["ip"] == "10.0.0.6"
    os.kill(pid, signal.SIGKILL)
    while dnsmasq.alive(pid):
        time.sleep(0.01)
    assert net.network_id not in driver.state().dhcp
    driver.ensure_dhcp(DhcpSpec(**{**spec.__dict__, "leases": both}))
    assert dnsmasq.running_pid(files) not in (None, pid)
    assert udhcpc(one, tmp_path)["ip"] == "10.0.0.5"


# -- metadata proxy ------------------------------------------------------------------------


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every GET with its path and headers (names in lower case), as JSON."""

    def do_GET(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = json.dumps({"path": self.path, **headers}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def metadata_service(driver: LinuxNetworkDriver) -> Iterator[None]:
    """An HTTP server on the driver's metadata socket standing for the metadata service."""
    assert driver.metadata is not None
    server = socketserver.ThreadingUnixStreamServer(str(driver.metadata.socket), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()
    driver.metadata.socket.unlink(missing_ok=True)


def metadata_get(guest: Guest, request: str) -> dict[str, str]:
    """Send a raw HTTP request from the guest to 169.254.169.254:80; the echoed headers."""
    with guest.socket() as client:
        client.settimeout(5)
        client.connect(("169.254.169.254", 80))
        client.sendall(request.encode())
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"200", head
    return dict(json.loads(body))


def test_the_metadata_proxy_vouches_for_the_guests_network_and_address(
    driver, make_guest, metadata_service
):
    net = tenant(driver)
    guest = make_guest(net, "10.0.0.5/24")
    driver.ensure_dhcp(
        DhcpSpec(net.network_id, new_id(), random_mac(), ("10.0.0.2/24",), (SUBNET,))
    )
    protect(driver, net, guest, EGRESS)
    guest.ip_cmd("route add 169.254.169.254/32 via 10.0.0.2")
    spoofed = (
        "GET /openstack/latest/meta_data.json HTTP/1.1\r\nHost: 169.254.169.254\r\n"
        "X-Forwarded-For: 10.0.0.99\r\nX-Nimbus-Network-ID: someone-else\r\n"
        "Connection: close\r\n\r\n"
    )
    seen = metadata_get(guest, spoofed)
    assert seen["path"] == "/openstack/latest/meta_data.json", seen
    assert seen["x-forwarded-for"] == "10.0.0.5"
    assert seen["x-nimbus-network-id"] == net.network_id


def test_a_dead_metadata_proxy_is_noticed_and_restarted(driver):
    net = tenant(driver)
    spec = DhcpSpec(net.network_id, new_id(), random_mac(), ("10.0.0.2/24",), (SUBNET,))
    driver.ensure_dhcp(spec)
    files = ProxyFiles(driver.records.root / "dhcp" / net.network_id)
    pid = metadata_proxy.running_pid(files)
    assert pid is not None and net.network_id in driver.state().dhcp
    os.kill(pid, signal.SIGKILL)
    while dnsmasq.alive(pid):
        time.sleep(0.01)
    assert net.network_id not in driver.state().dhcp
    driver.ensure_dhcp(replace(spec, generation=1))
    assert metadata_proxy.running_pid(files) not in (None, pid)
    driver.delete_dhcp(net.network_id)
    assert metadata_proxy.running_pid(files) is None


# -- (b) overlapping addresses -------------------------------------------------------------


def conntrack_zones(src: str, dst: str, sport: int, dport: int) -> set[int]:
    """The zones of the host's connections with this 5-tuple (UDP)."""
    tuple_text = f"src={src} dst={dst} sport={sport} dport={dport} "
    lines = Path("/proc/net/nf_conntrack").read_text().splitlines()
    return {int(line.split("zone=")[1].split()[0]) for line in lines if tuple_text in line}


def udp_exchange(
    sender: Guest, receiver: Guest, port: int, text: bytes, sport: int
) -> bytes | None:
    """Send ``text`` from sender:sport to receiver:port, and a reply back; what arrived."""
    inbox, outbox = receiver.socket(socket.SOCK_DGRAM), sender.socket(socket.SOCK_DGRAM)
    with inbox, outbox:
        inbox.bind(("0.0.0.0", port))
        outbox.bind(("0.0.0.0", sport))
        inbox.settimeout(0.5)
        outbox.sendto(text, (receiver.ip, port))
        try:
            data, peer = inbox.recvfrom(100)
        except TimeoutError:
            return None
        inbox.sendto(b"reply", peer)
        outbox.settimeout(0.5)
        outbox.recvfrom(100)
        return data


def test_the_same_cidr_in_two_networks_never_meets(driver, make_guest):
    a, b = tenant(driver), tenant(driver)
    a1, a2 = make_guest(a, "10.0.0.5/24"), make_guest(a, "10.0.0.6/24")
    b1, b2, b3 = (make_guest(b, f"10.0.0.{i}/24") for i in (5, 6, 7))
    udp = SecurityRule("ingress", protocol="udp", port_min=5000, port_max=5000)
    for net, guest in ((a, a1), (a, a2), (b, b1), (b, b2), (b, b3)):
        protect(driver, net, guest, EGRESS, WEB, udp)
    b3.listen(80)
    assert b1.connects("10.0.0.7", 80) and not a1.connects("10.0.0.7", 80)
    sport = random.randint(20000, 60000)  # a 5-tuple no earlier run left in conntrack
    assert udp_exchange(a1, a2, 5000, b"A", sport) == b"A"
    assert udp_exchange(b1, b2, 5000, b"B", sport) == b"B"
    assert conntrack_zones("10.0.0.5", "10.0.0.6", sport, 5000) == {a.segment, b.segment}


def test_a_connection_in_one_network_opens_nothing_in_another(driver, make_guest):
    a, b = tenant(driver), tenant(driver)
    a1, a2 = make_guest(a, "10.0.0.5/24"), make_guest(a, "10.0.0.6/24")
    b1, b2 = make_guest(b, "10.0.0.5/24"), make_guest(b, "10.0.0.6/24")
    udp = SecurityRule("ingress", protocol="udp", port_min=5001, port_max=5001)
    for net, guest, rules in ((a, a1, ()), (a, a2, (udp,)), (b, b1, ()), (b, b2, ())):
        protect(driver, net, guest, EGRESS, *rules)
    sport = random.randint(20000, 60000)
    assert udp_exchange(a1, a2, 5001, b"A", sport) == b"A"
    # The same 5-tuple in b: without zones it would match a's established connection.
    assert udp_exchange(b1, b2, 5001, b"B", sport) is None


# -- (c) security groups and anti-spoofing -------------------------------------------------


def test_ingress_opens_by_rule_and_replies_come_back(driver, make_guest):
    net = tenant(driver)
    server, client = make_guest(net, "10.0.0.5/24"), make_guest(net, "10.0.0.6/24")
    server.listen(80)
    protect(driver, net, server)
    protect(driver, net, client, EGRESS)
    assert not client.connects(server.ip, 80)
    protect(driver, net, server, WEB)
    assert client.connects(server.ip, 80)
    protect(driver, net, client)
    assert not client.connects(server.ip, 80)


def test_a_filter_made_before_its_tap_applies_when_the_tap_appears(driver, make_guest):
    net = tenant(driver)
    port_id, mac = new_id(), random_mac()
    early = PortFilter(port_id, net.network_id, net.segment, next(_tags), mac, ("10.0.0.5",))
    driver.ensure_port_filter(early)
    server = make_guest(net, "10.0.0.5/24", mac=mac, port_id=port_id)
    client = make_guest(net, "10.0.0.6/24")
    server.listen(80)
    assert not client.connects(server.ip, 80)
    driver.ensure_port_filter(PortFilter(**{**early.__dict__, "rules": (WEB,)}))
    assert client.connects(server.ip, 80)


def test_remote_group_rules_follow_the_members(driver, make_guest):
    net = tenant(driver)
    server, client = make_guest(net, "10.0.0.5/24"), make_guest(net, "10.0.0.6/24")
    server.listen(80)
    group = new_id()
    protect(driver, net, server, SecurityRule("ingress", protocol="tcp", remote_group=group))
    protect(driver, net, client, EGRESS)
    assert not client.connects(server.ip, 80)
    driver.set_group_members(group, (client.ip,))
    assert client.connects(server.ip, 80)
    driver.set_group_members(group, ("10.0.0.99",))
    assert not client.connects(server.ip, 80)


def test_spoofed_source_address_is_dropped(driver, make_guest):
    net = tenant(driver)
    server, client = make_guest(net, "10.0.0.5/24"), make_guest(net, "10.0.0.6/24")
    server.listen(80)
    protect(driver, net, server, WEB)
    protect(driver, net, client, EGRESS)
    client.ip_cmd("addr add 10.0.0.66/24 dev eth0")
    # The server knows where .66 is without ARP: only the source address check can stop it.
    server.ip_cmd(f"neigh replace 10.0.0.66 lladdr {client.mac} dev eth0 nud permanent")
    assert client.connects(server.ip, 80)
    assert not client.connects(server.ip, 80, source="10.0.0.66")
    protect(driver, net, client, EGRESS, port_security=False)
    assert client.connects(server.ip, 80, source="10.0.0.66")


def test_spoofed_mac_is_dropped(driver, make_guest):
    net = tenant(driver)
    server, client = make_guest(net, "10.0.0.5/24"), make_guest(net, "10.0.0.6/24")
    server.listen(80)
    protect(driver, net, server, WEB)
    protect(driver, net, client, EGRESS)
    client.ip_cmd(f"link set eth0 address {random_mac()}")
    server.ip_cmd("neigh flush all")
    assert not client.connects(server.ip, 80)
    protect(driver, net, client, EGRESS, port_security=False)
    client.ip_cmd("neigh flush all")  # forget the failed ARP, so it asks again at once
    assert client.connects(server.ip, 80)


def test_a_guest_cannot_answer_dhcp(driver, make_guest):
    net = tenant(driver)
    rogue, victim = make_guest(net, "10.0.0.5/24"), make_guest(net, "10.0.0.6/24")
    protect(driver, net, rogue, EGRESS)
    protect(driver, net, victim)
    with victim.socket(socket.SOCK_DGRAM) as inbox, rogue.socket(socket.SOCK_DGRAM) as server:
        inbox.bind(("0.0.0.0", 68))
        inbox.settimeout(0.5)
        server.bind(("0.0.0.0", 67))
        server.sendto(b"offer", (victim.ip, 68))
        with pytest.raises(TimeoutError):
            inbox.recvfrom(100)
        protect(driver, net, rogue, EGRESS, port_security=False)
        server.sendto(b"offer", (victim.ip, 68))
        assert inbox.recvfrom(100)[0] == b"offer"


# -- (d) router, floating IP, SNAT ---------------------------------------------------------


def external_prefix() -> str:
    """A 100.64.x.0/24 no route of this host (eth0's included) touches."""
    routes = json.loads(sh("ip -4 -j route show table all"))
    taken = [ipaddress.ip_network(r["dst"]) for r in routes if r["dst"][0].isdigit()]
    for x in range(10, 250):
        candidate = ipaddress.ip_network(f"100.64.{x}.0/24")
        if not any(candidate.overlaps(net) for net in taken):
            return f"100.64.{x}"
    raise AssertionError("no free 100.64.x.0/24")


def http_get(url: str) -> str | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        return opener.open(url, timeout=0.5).read().decode()
    except OSError:
        return None


def test_router_floating_ip_and_snat(driver, make_guest, processes, tmp_path):
    prefix = external_prefix()
    ext = NetworkSpec(new_id(), free_segment(), external=True, host_address=f"{prefix}.1/24")
    driver.ensure_network(ext)
    net = tenant(driver)
    web = make_guest(net, "10.0.0.5/24", gateway="10.0.0.1")
    other = make_guest(net, "10.0.0.6/24", gateway="10.0.0.1")
    gateway = RouterPort(new_id(), ext.network_id, random_mac(), f"{prefix}.10/24")
    inside = RouterPort(new_id(), net.network_id, random_mac(), "10.0.0.1/24")
    floating = (FloatingNat(f"{prefix}.20", web.ip),)
    driver.ensure_router(RouterSpec(new_id(), (inside,), gateway, f"{prefix}.1", True, floating))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from the guest")
    serve = ["busybox", "httpd", "-f", "-p", "80", "-h", str(tmp_path / "www")]
    processes.append(subprocess.Popen(["ip", "netns", "exec", web.namespace, *serve]))
    protect(driver, net, web)
    protect(driver, net, other, EGRESS)

    route = sh(f"ip route get {prefix}.20")
    assert f"dev {bridge_name(ext.network_id)} " in route and "eth0" not in route
    assert http_get(f"http://{prefix}.20/") is None
    protect(driver, net, web, WEB)
    assert http_get(f"http://{prefix}.20/") == "hello from the guest"
    # Between the router's port and the guest's, the host tracks it in the network's zone
    # (a zone no earlier run used: the segment is new).
    lines = Path("/proc/net/nf_conntrack").read_text().splitlines()
    flow = f"src={prefix}.1 dst={web.ip} "
    assert any(flow in line and f"zone={net.segment} " in line for line in lines)

    with socket.socket() as host:
        host.bind((f"{prefix}.1", 0))
        host.listen(1)
        host.settimeout(2)
        assert other.connects(f"{prefix}.1", host.getsockname()[1])
        assert host.accept()[1][0] == f"{prefix}.10"


# -- (e) nothing left behind ---------------------------------------------------------------


def test_deleting_everything_leaves_nothing_behind(driver):
    prefix = external_prefix()
    ext = NetworkSpec(new_id(), free_segment(), external=True, host_address=f"{prefix}.1/24")
    driver.ensure_network(ext)
    net = tenant(driver)
    dhcp_port, qr, qg, port, group, router = (new_id() for _ in range(6))
    fragments = [
        *(short(i) for i in (ext.network_id, net.network_id, dhcp_port, qr, qg, port)),
        net.network_id,
        router,
        vxlan_name(net.segment),
        driver.tables.table,
        str(driver.records.root),
    ]
    dhcp = DhcpSpec(net.network_id, dhcp_port, random_mac(), ("10.0.0.2/24",), (SUBNET,))
    driver.ensure_dhcp(dhcp)
    spec = RouterSpec(
        router,
        (RouterPort(qr, net.network_id, random_mac(), "10.0.0.1/24"),),
        RouterPort(qg, ext.network_id, random_mac(), f"{prefix}.10/24"),
        f"{prefix}.1",
        True,
        (FloatingNat(f"{prefix}.20", "10.0.0.5"),),
    )
    driver.ensure_router(spec)
    driver.set_group_members(group, ("10.0.0.5",))
    rule = SecurityRule("ingress", remote_group=group)
    filt = PortFilter(port, net.network_id, net.segment, 1, random_mac(), ("10.0.0.5",), (rule,))
    driver.ensure_port_filter(filt)
    during = leftovers(fragments)
    assert all(during.values()), during

    driver.delete_router(router)
    driver.delete_dhcp(net.network_id)
    driver.remove_port_filter(port)
    driver.delete_group(group)
    driver.delete_network(net.network_id)
    driver.delete_network(ext.network_id)
    assert leftovers(fragments) == {
        "namespaces": set(),
        "links": set(),
        "tables": set(),
        "dnsmasq": set(),
        "haproxy": set(),
    }
    assert driver.state() == type(driver.state())()
