"""Scheduling on the real cloud through the unmodified ``openstack`` CLI: server groups,
zones, compute services and hypervisors as the CLI shows them, and what the scheduler
refuses on this one host, each refusal leaving nothing behind."""

from __future__ import annotations

import pytest

from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def _create(cloud: Cloud, name: str, *extra: str) -> dict:
    args = ["server", "create", "--flavor", "m1.tiny", "--image", "nimbus-guest"]
    server = cloud.openstack_json(*args, "--no-network", *extra, name)

    # --wait gives up on ERROR with a non-zero exit: poll instead.
    def settled() -> bool:
        status = cloud.openstack_json("server", "show", server["id"])["status"]
        return status in ("ACTIVE", "ERROR")

    wait_for(settled, 300, f"{name} ACTIVE or ERROR")
    return dict(cloud.openstack_json("server", "show", server["id"]))


def _nothing_left(cloud: Cloud, server_id: str) -> None:
    assert f"{cloud.settings.instance_prefix}{server_id}" not in cloud.domains()
    assert server_id not in cloud.disks()


def test_groups_zones_and_services_as_the_cli_shows_them(cloud: Cloud) -> None:
    [zone] = cloud.openstack_json("availability", "zone", "list", "--compute")
    assert (zone["Zone Name"], zone["Zone Status"]) == ("nova", "available")
    [service] = cloud.openstack_json("compute", "service", "list")
    host = service["Host"]
    assert (service["Binary"], service["Status"], service["State"]) == (
        "nova-compute", "enabled", "up"
    )  # fmt: skip
    shown = cloud.openstack_json("hypervisor", "show", host)
    assert shown["hypervisor_hostname"] == host and shown["service_host"] == host

    group = cloud.openstack_json("server", "group", "create", "--policy", "anti-affinity", "g1")
    assert group["policy"] == "anti-affinity"
    names = ("spread-1", "spread-2", "while-disabled")
    try:
        _placements(cloud, host, group["id"])
    finally:
        for name in names:
            cloud.openstack("server", "delete", "--wait", name)
        assert cloud.openstack("server", "group", "delete", "g1").returncode == 0
    assert not [s for s in cloud.openstack_json("server", "list") if s["Name"] in names]


def _placements(cloud: Cloud, host: str, group_id: str) -> None:
    first = _create(cloud, "spread-1", "--hint", f"group={group_id}")
    assert first["status"] == "ACTIVE" and first["OS-EXT-AZ:availability_zone"] == "nova"
    second = _create(cloud, "spread-2", "--hint", f"group={group_id}")
    assert second["status"] == "ERROR" and second["fault"]["message"] == NO_VALID_HOST
    _nothing_left(cloud, second["id"])
    members = cloud.openstack_json("server", "group", "show", "g1")["members"]
    assert first["id"] in members

    disable = ["compute", "service", "set", "--disable", "--disable-reason", "maintenance"]
    assert cloud.openstack(*disable, host, "nova-compute").returncode == 0
    try:
        [service] = cloud.openstack_json("compute", "service", "list", "--long")
        assert (service["Status"], service["Disabled Reason"]) == ("disabled", "maintenance")
        refused = _create(cloud, "while-disabled")
        assert refused["status"] == "ERROR" and refused["fault"]["message"] == NO_VALID_HOST
        _nothing_left(cloud, refused["id"])
    finally:
        enable = ["compute", "service", "set", "--enable", host, "nova-compute"]
        assert cloud.openstack(*enable).returncode == 0
