"""Tenant networks with the unmodified openstack CLI, on real bridges, VXLAN, namespaces,
dnsmasq and nftables, with real guests.

Two projects each make 10.0.0.0/24; their guests get the same addresses by DHCP, reach
each other inside a project and never across. A router with a gateway on the cloud's own
host-only external network and a floating IP: HTTP from the host reaches the guest only
once a security group rule opens tcp/80. Deleting everything leaves no device behind.
All traffic stays on bridges and namespaces this cloud made (the external range is the
test cloud's own; the route to it is checked before any packet is sent).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from activities.network.base import bridge_name, dhcp_namespace, router_namespace, tap_name
from launcher import bootstrap
from launcher.netbootstrap import PUBLIC_NETWORK
from nimbus.db import Database
from tests.support.cloud import LIBVIRT_URI, Cloud, wait_for
from tests.support.guest import GuestShell

pytestmark = pytest.mark.e2e

BOB = ("bob", "bob-secret", "other")
USER_DATA_SAYS = "hello-from-user-data"


@dataclass
class Lab:
    cloud: Cloud
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def os(self, *args: str, user: tuple[str, str, str] | None = None) -> Any:
        """An ``openstack ... -f json`` call as the admin (or ``user``); its JSON."""
        result = self.cloud.openstack(*_as(user), *args, "-f", "json")
        assert result.returncode == 0, f"{args}: {result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else None

    def run(self, *args: str, user: tuple[str, str, str] | None = None) -> Any:
        return self.cloud.openstack(*_as(user), *args)

    def shell(self, server: str) -> GuestShell:
        name = f"{self.cloud.settings.instance_prefix}{self.servers[server]['id']}"
        return GuestShell(LIBVIRT_URI, name)

    def ip(self, server: str) -> str:
        return str(self.servers[server]["ip"])


def _as(user: tuple[str, str, str] | None) -> list[str]:
    if user is None:
        return []
    name, password, project = user
    return [
        "--os-username",
        name,
        "--os-password",
        password,
        "--os-project-name",
        project,
    ]


def _console(lab: Lab, server: str, user: tuple[str, str, str] | None) -> str:
    return str(lab.run("console", "log", "show", server, user=user).stdout)


def _boot(
    lab: Lab, name: str, network: str, user: tuple[str, str, str] | None, *extra: str
) -> None:
    created = lab.os(
        "server", "create", "--flavor", "m1.tiny", "--image", "nimbus-guest",
        "--network", network, *extra, name, user=user,
    )  # fmt: skip
    lab.servers[name] = {"id": created["id"], "user": user}


def _wait_address(lab: Lab, name: str) -> None:
    user = lab.servers[name]["user"]

    def leased() -> str | None:
        found = re.search(r"NIMBUS IP (\S+)", _console(lab, name, user))
        return found.group(1) if found else None

    lab.servers[name]["ip"] = wait_for(leased, 240, f"{name} to get an address by DHCP")
    shown = lab.os("server", "show", name, user=user)
    assert lab.ip(name) in json.dumps(shown["addresses"])


@pytest.fixture(scope="module")
def lab(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Networks 10.0.0.0/24 in two projects, two guests in one, one in the other."""
    bootstrap.ensure_user(Database(cloud.settings.db_url), *BOB[:1], BOB[2], "member", BOB[1])
    lab = Lab(cloud)
    for project, user in (("a", None), ("b", BOB)):
        lab.ids[f"net-{project}"] = lab.os("network", "create", f"net-{project}", user=user)["id"]
        lab.os(
            "subnet", "create", "--network", f"net-{project}",
            "--subnet-range", "10.0.0.0/24", f"sub-{project}", user=user,
        )  # fmt: skip
    script = tmp_path_factory.mktemp("user-data") / "script.sh"
    script.write_text(f"#!/bin/sh\necho {USER_DATA_SAYS}\n")
    try:
        _boot(lab, "a1", "net-a", None, "--user-data", str(script), "--property", "role=web")
        _boot(lab, "a2", "net-a", None)
        _boot(lab, "b1", "net-b", BOB)
        for name in ("a1", "a2", "b1"):
            _wait_address(lab, name)
    except BaseException:
        _clear(lab)  # the tests that share the cloud after this one must not find them
        raise
    yield lab


def _clear(lab: Lab) -> None:
    """Remove the lab's servers, subnets and networks, whatever is left of them."""
    for name, info in lab.servers.items():
        lab.run("server", "delete", "--wait", name, user=info["user"])
    for project, user in (("a", None), ("b", BOB)):
        lab.run("subnet", "delete", f"sub-{project}", user=user)
        lab.run("network", "delete", f"net-{project}", user=user)


def test_user_data_and_metadata_reach_the_guest_on_its_config_drive(lab: Lab) -> None:
    assert USER_DATA_SAYS in _console(lab, "a1", None)
    with lab.shell("a1") as a1:
        meta = a1.run("cat /mnt/config/openstack/latest/meta_data.json")
    assert '"role": "web"' in meta and lab.servers["a1"]["id"] in meta
    assert lab.os("server", "show", "a1")["config_drive"] == "True"


def _fetch(shell: GuestShell, address: str) -> str:
    return shell.run(f"wget -q -O - http://{address}/ 2>&1; echo rc=$?", timeout=40)


def test_same_cidr_in_two_projects_reach_within_and_never_across(lab: Lab) -> None:
    assert lab.ip("b1") in (lab.ip("a1"), lab.ip("a2"))  # overlapping addresses
    with lab.shell("a1") as a1:
        page = _fetch(a1, lab.ip("a2"))
        assert lab.servers["a2"]["id"] in page
    other = lab.ip("a2") if lab.ip("b1") == lab.ip("a1") else lab.ip("a1")
    with lab.shell("b1") as b1:
        answer = b1.run(f"timeout 8 wget -q -O - http://{other}/ 2>&1; echo rc=$?", 40)
        assert "rc=0" not in answer and lab.servers["a1"]["id"] not in answer


def _route_dev(address: str) -> str:
    out = subprocess.run(
        ["ip", "-j", "route", "get", address], capture_output=True, text=True, check=True
    ).stdout
    return str(json.loads(out)[0]["dev"])


def _http(address: str, timeout: float = 3) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{address}/", timeout=timeout) as response:
            return str(response.read().decode())
    except OSError:
        return None


def test_floating_ip_reaches_the_guest_only_once_tcp_80_is_open(lab: Lab) -> None:
    public = lab.os("network", "show", PUBLIC_NETWORK)
    lab.os("router", "create", "r1")
    assert lab.run("router", "set", "--external-gateway", public["id"], "r1").returncode == 0
    assert lab.run("router", "add", "subnet", "r1", "sub-a").returncode == 0
    fip = lab.os("floating", "ip", "create", public["id"])["floating_ip_address"]
    assert lab.run("server", "add", "floating", "ip", "a1", fip).returncode == 0
    lab.ids["fip"] = fip

    assert _route_dev(fip) == bridge_name(public["id"])  # never the uplink
    assert _http(fip) is None
    # A group of its own, added to the running server and removed again.
    assert lab.run("security", "group", "create", "web").returncode == 0
    web = lab.run(
        "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "web"
    )
    assert web.returncode == 0, web.stderr
    added = lab.run("server", "add", "security", "group", "a1", "web")
    assert added.returncode == 0, added.stderr
    page = wait_for(lambda: _http(fip), 30, "HTTP through the floating IP, group added")
    assert lab.servers["a1"]["id"] in page
    removed = lab.run("server", "remove", "security", "group", "a1", "web")
    assert removed.returncode == 0, removed.stderr
    wait_for(lambda: _http(fip) is None, 30, "HTTP refused again, group removed")
    assert lab.run("security", "group", "delete", "web").returncode == 0
    rule = lab.run(
        "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "default"
    )
    assert rule.returncode == 0, rule.stderr
    page = wait_for(lambda: _http(fip), 30, "HTTP through the floating IP")
    assert lab.servers["a1"]["id"] in page


def _domain_xml(lab: Lab, server: str) -> str:
    import libvirt

    conn = libvirt.open(LIBVIRT_URI)
    try:
        name = f"{lab.cloud.settings.instance_prefix}{lab.servers[server]['id']}"
        return str(conn.lookupByName(name).XMLDesc(0))
    finally:
        conn.close()


def _server_ports(lab: Lab, server: str) -> dict[str, str]:
    """The server's ports: MAC address by port id."""
    return {p["ID"]: p["MAC Address"] for p in lab.os("port", "list", "--server", server)}


def test_a_port_and_a_network_plugged_into_a_running_guest_and_out(lab: Lab) -> None:
    lab.os("network", "create", "net-c")
    lab.os("subnet", "create", "--network", "net-c", "--subnet-range", "10.1.0.0/24", "sub-c")
    port = lab.os("port", "create", "--network", "net-c", "extra")
    added = lab.run("server", "add", "port", "a2", "extra")
    assert added.returncode == 0, added.stderr
    added = lab.run("server", "add", "network", "a2", "net-c")
    assert added.returncode == 0, added.stderr
    ports = _server_ports(lab, "a2")
    assert port["id"] in ports and len(ports) == 3
    addresses = lab.os("server", "show", "a2")["addresses"]
    assert len(re.findall(r"10\.1\.0\.\d+", json.dumps(addresses))) == 2
    xml = _domain_xml(lab, "a2")
    assert all(mac in xml for mac in ports.values())
    with lab.shell("a2") as a2:
        seen = a2.run("cat /sys/class/net/*/address")
    assert all(mac in seen for mac in ports.values()), seen

    removed = lab.run("server", "remove", "port", "a2", "extra")
    assert removed.returncode == 0, removed.stderr
    removed = lab.run("server", "remove", "network", "a2", "net-c")
    assert removed.returncode == 0, removed.stderr
    wait_for(lambda: len(_server_ports(lab, "a2")) == 1, 60, "both NICs unplugged")
    assert lab.os("port", "show", "extra")["device_id"] == ""  # the user's port is kept
    assert lab.os("port", "list", "--network", "net-c", "--device-owner", "compute:nova") == []
    xml = _domain_xml(lab, "a2")
    assert port["mac_address"] not in xml
    for args in (("port", "delete", "extra"), ("subnet", "delete", "sub-c")):
        assert lab.run(*args).returncode == 0
    assert lab.run("network", "delete", "net-c").returncode == 0


def _devices() -> dict[str, set[str]]:
    links = json.loads(
        subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    )
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    pids = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return {
        "links": {link["ifname"] for link in links},
        "namespaces": {line.split()[0] for line in namespaces.splitlines() if line.strip()},
        "dnsmasq": {line for line in pids.splitlines() if line.startswith("dnsmasq")},
    }


def test_deleting_everything_leaves_no_device_behind(lab: Lab) -> None:
    # The lab's own routers and ports only: the cloud is shared with other tests, whose
    # routers (the PaaS's among them) keep their gateways on the external network.
    routers = [r["ID"] for r in lab.os("router", "list") if r["Name"] == "r1"]
    ports = [
        p["ID"]
        for query in (
            *(("--network", lab.ids[key]) for key in ("net-a", "net-b")),
            *(("--router", router) for router in routers),
        )
        for p in lab.os("port", "list", *query)
    ]
    assert ports and routers
    for name, info in lab.servers.items():
        assert lab.run("server", "delete", "--wait", name, user=info["user"]).returncode == 0
    if "fip" in lab.ids:
        assert lab.run("floating", "ip", "delete", lab.ids["fip"]).returncode == 0
    for router in routers:
        lab.run("router", "remove", "subnet", router, "sub-a")
        assert lab.run("router", "delete", router).returncode == 0
    for project, user in (("a", None), ("b", BOB)):
        assert lab.run("subnet", "delete", f"sub-{project}", user=user).returncode == 0
        assert lab.run("network", "delete", f"net-{project}", user=user).returncode == 0

    left = _devices()
    for key in ("net-a", "net-b"):
        net = lab.ids[key]
        assert bridge_name(net) not in left["links"]
        assert dhcp_namespace(net) not in left["namespaces"]
        assert not [line for line in left["dnsmasq"] if net in line]
    for router in routers:
        assert router_namespace(router) not in left["namespaces"]
    # A device whose namespace was removed is destroyed by the kernel's namespace cleanup,
    # which runs after `ip netns del` returns: a leak is a device that stays.
    taps = {tap_name(p) for p in ports}
    try:
        wait_for(lambda: not taps & _devices()["links"], 30, "the ports' devices to go")
    except AssertionError:
        shown = subprocess.run(["ip", "-d", "-j", "link"], capture_output=True, text=True)
        stayed = [
            {k: link.get(k) for k in ("ifname", "master", "link_netnsid", "operstate")}
            for link in json.loads(shown.stdout)
            if link["ifname"] in taps
        ]
        owners = {p: lab.run("port", "show", p).stdout for p in ports if tap_name(p) in str(stayed)}
        raise AssertionError(f"devices left behind: {stayed}; their ports: {owners}") from None
    state = lab.cloud.network_state()
    networks = {lab.ids["net-a"], lab.ids["net-b"]}
    assert not state.dhcp & networks and not state.networks & networks
    assert not state.routers & set(routers) and not state.port_filters & set(ports)
    nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert not [p for p in ports if p[:11] in nft]
