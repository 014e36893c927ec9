"""Two compute hosts on this machine (``nimbus host add``): the second in a network
namespace of its own, with its own libvirtd, guests and VTEP, driven through the
unmodified ``openstack`` CLI.

An anti-affinity group puts two servers of one tenant network on different hosts, and
they reach each other over VXLAN; a third member fits on no host and fails with Nova's
fault, leaving nothing behind. Then the second host is powered off and a server of its
evacuated: it comes up on the first host with its disk's data and its address; the
second host, started again, destroys what it still had. A cold migration moves the
server back to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from launcher.services import hosts
from tests.support.cloud import LIBVIRT_URI, Cloud, wait_for
from tests.support.guest import GuestShell

pytestmark = pytest.mark.e2e

HOST = "hostb"
NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
MARK = "evacuated-with-its-data"
#: A 512-byte block far beyond what the image writes on the 1 GiB root disk.
BLOCK = 1_500_000


@pytest.fixture(scope="module")
def two_hosts(cloud: Cloud) -> Iterator[Cloud]:
    added = cloud.nimbus("host", "add", HOST, timeout=300)
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        yield cloud
    finally:
        cloud.nimbus("host", "remove", HOST)
        for service in cloud.openstack_json("compute", "service", "list"):
            if service["Host"] == HOST:
                cloud.openstack(
                    "--os-compute-api-version", "2.53", "compute", "service", "delete",
                    str(service["ID"]),
                )  # fmt: skip


def _uri(cloud: Cloud, host: str) -> str:
    if host == HOST:
        return hosts.local_host(cloud.settings, HOST).libvirt_uri
    return LIBVIRT_URI


def _server(cloud: Cloud, name: str, *extra: str) -> dict[str, Any]:
    args = ["server", "create", "--flavor", "m1.tiny", "--image", "nimbus-guest"]
    server = cloud.openstack_json(*args, *extra, name)

    def settled() -> bool:
        status = cloud.openstack_json("server", "show", server["id"])["status"]
        return status in ("ACTIVE", "ERROR")

    wait_for(settled, 300, f"{name} ACTIVE or ERROR")
    return dict(cloud.openstack_json("server", "show", server["id"]))


def _host_of(server: dict[str, Any]) -> str:
    return str(server["OS-EXT-SRV-ATTR:host"])


def _address(cloud: Cloud, server_id: str) -> str:
    def leased() -> str | None:
        log = cloud.openstack("console", "log", "show", server_id).stdout
        found = re.findall(r"NIMBUS IP (\S+)", log)
        return found[-1] if found else None

    return str(wait_for(leased, 240, f"{server_id} to get an address by DHCP"))


def _shell(cloud: Cloud, server: dict[str, Any]) -> GuestShell:
    name = f"{cloud.settings.instance_prefix}{server['id']}"
    return GuestShell(_uri(cloud, _host_of(server)), name)


def _fetch(shell: GuestShell, address: str) -> str:
    return shell.run(f"wget -q -O - http://{address}/ 2>&1; echo rc=$?", timeout=40)


def test_two_hosts_spread_reach_fill_evacuate_and_migrate(two_hosts: Cloud) -> None:
    cloud = two_hosts
    services = {s["Host"]: s for s in cloud.openstack_json("compute", "service", "list")}
    assert services[HOST]["State"] == "up" and len(services) == 2
    first = next(name for name in services if name != HOST)
    hypervisors = {h["Hypervisor Hostname"] for h in cloud.openstack_json("hypervisor", "list")}
    assert hypervisors == {first, HOST}

    cloud.openstack_json("network", "create", "span")
    cloud.openstack_json(
        "subnet", "create", "--network", "span", "--subnet-range", "10.77.0.0/24", "span-sub"
    )
    group = cloud.openstack_json("server", "group", "create", "--policy", "anti-affinity", "pair")
    hint = ["--network", "span", "--hint", f"group={group['id']}"]
    one, two = _server(cloud, "one", *hint), _server(cloud, "two", *hint)
    assert (one["status"], two["status"]) == ("ACTIVE", "ACTIVE")
    assert {_host_of(one), _host_of(two)} == {first, HOST}
    addresses = {s["id"]: _address(cloud, s["id"]) for s in (one, two)}

    # Over VXLAN, both ways.
    for here, there in ((one, two), (two, one)):
        with _shell(cloud, here) as shell:
            assert there["id"] in _fetch(shell, addresses[there["id"]])

    # A third member fits nowhere: Nova's fault, nothing left on either host.
    third = _server(cloud, "three", *hint)
    assert third["status"] == "ERROR" and NO_VALID_HOST in str(third["fault"])
    assert f"{cloud.settings.instance_prefix}{third['id']}" not in cloud.domains()
    assert third["id"] not in cloud.disks()
    assert cloud.openstack_json("port", "list", "--device-id", third["id"]) == []
    cloud.openstack("server", "delete", "--wait", third["id"])

    # A server of no group on host b (an admin's host, 2.74), beside the group's member.
    solo = _server(
        cloud, "solo", "--os-compute-api-version", "2.74", "--host", HOST, "--network", "span"
    )
    assert (solo["status"], _host_of(solo)) == ("ACTIVE", HOST)
    addresses[solo["id"]] = _address(cloud, solo["id"])
    other = one if _host_of(one) == first else two

    # Host b fails: the solo server is evacuated to the first host with its data and
    # address (the group's member there keeps the other one away: anti-affinity).
    on_b = solo
    with _shell(cloud, on_b) as shell:
        shell.run(f"echo {MARK} | dd of=/dev/vda bs=512 seek={BLOCK} conv=fsync 2>/dev/null")
    stopped = cloud.nimbus("host", "stop", HOST)
    assert stopped.returncode == 0, stopped.stderr
    refused = cloud.openstack("--os-compute-api-version", "2.14", "server", "evacuate", on_b["id"])
    assert refused.returncode != 0 and "still in use" in refused.stderr
    down = cloud.openstack(
        "--os-compute-api-version", "2.11", "compute", "service", "set", "--down",
        HOST, "nova-compute",
    )  # fmt: skip
    assert down.returncode == 0, down.stderr
    # No --wait: this client compares the lower-cased status with "ACTIVE" and never
    # sees the end.
    evacuated = cloud.openstack(
        "--os-compute-api-version", "2.14", "server", "evacuate", on_b["id"]
    )
    assert evacuated.returncode == 0, evacuated.stderr

    def settled() -> bool:
        shown = cloud.openstack_json("server", "show", on_b["id"])
        return shown["status"] in ("ACTIVE", "ERROR") and not shown["OS-EXT-STS:task_state"]

    wait_for(settled, 300, "the evacuation to end")
    moved = cloud.openstack_json("server", "show", on_b["id"])
    assert (moved["status"], _host_of(moved)) == ("ACTIVE", first)
    assert _address(cloud, on_b["id"]) == addresses[on_b["id"]]
    with _shell(cloud, moved) as shell:
        assert MARK in shell.run(f"dd if=/dev/vda bs=512 skip={BLOCK} count=1 2>/dev/null")
    with _shell(cloud, other) as shell:
        assert on_b["id"] in _fetch(shell, addresses[on_b["id"]])
    [migration] = [
        m
        for m in cloud.openstack_json("server", "migration", "list", "--server", on_b["id"])
        if m["Type"] == "evacuation"
    ]
    assert migration["Status"] == "done"

    # Host b comes back: it cleans up after the evacuation, and takes servers again.
    started = cloud.nimbus("host", "start", HOST)
    assert started.returncode == 0, started.stderr
    up = cloud.openstack(
        "--os-compute-api-version", "2.11", "compute", "service", "set", "--up",
        HOST, "nova-compute",
    )  # fmt: skip
    assert up.returncode == 0, up.stderr

    def completed() -> bool:
        found = cloud.openstack_json("server", "migration", "list", "--server", on_b["id"])
        return any(m["Status"] == "completed" for m in found)

    wait_for(completed, 120, "host b to clean up after the evacuation")

    # A cold migration takes the server back to host b, confirmed as a resize is.
    migrated = cloud.openstack(
        "--os-compute-api-version", "2.56", "server", "migrate", "--host", HOST, "--wait",
        on_b["id"],
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    shown = cloud.openstack_json("server", "show", on_b["id"])
    assert (shown["status"], _host_of(shown)) == ("VERIFY_RESIZE", HOST)
    confirmed = cloud.openstack("server", "migrate", "confirm", on_b["id"])
    assert confirmed.returncode == 0, confirmed.stderr
    wait_for(
        lambda: cloud.openstack_json("server", "show", on_b["id"])["status"] == "ACTIVE",
        120,
        "the migration confirmed",
    )
    back = cloud.openstack_json("server", "show", on_b["id"])
    assert _host_of(back) == HOST
    with _shell(cloud, other) as shell:
        assert on_b["id"] in _fetch(shell, addresses[on_b["id"]])

    for server in (one, two, solo):
        cloud.openstack("server", "delete", "--wait", server["id"])
    cloud.openstack("server", "group", "delete", group["id"])
    cloud.openstack("network", "delete", "span")
