"""Quotas on the running cloud: concurrent boots through gunicorn (several processes and
threads) are admitted exactly up to the quota, and the unmodified ``openstack`` CLI sets
and shows quotas and limits. Each test uses a project of its own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from launcher import bootstrap
from nimbus.client import password_auth
from nimbus.db import Database, Server
from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e

PASSWORD = "quota-secret"
FULL = "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"


def _user(cloud: Cloud, name: str, project: str, role: str) -> str:
    """A user with ``role`` on a new project of its own; returns the project's id."""
    _, row, _ = bootstrap.ensure_user(
        Database(cloud.settings.db_url), name, project, role, PASSWORD
    )
    return row.id


def _token(cloud: Cloud, name: str, project: str) -> str:
    body = password_auth(name, PASSWORD, project)
    r = requests.post(
        f"{cloud.url}/identity/v3/auth/tokens", json=body, timeout=30, verify=cloud.verify
    )
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


def _live_servers(cloud: Cloud, project_id: str) -> int:
    with Database(cloud.settings.db_url).session() as s:
        query = s.query(Server).filter(Server.project_id == project_id)
        return query.filter(Server.deleted_at.is_(None)).count()


def test_fifty_concurrent_boots_admit_exactly_ten(cloud: Cloud) -> None:
    project_id = _user(cloud, "quota-racer", "quota-race", "member")
    admin = cloud.client()
    quota = {"quota_set": {"instances": 10}}
    assert admin.call("PUT", f"/compute/v2.1/os-quota-sets/{project_id}", json=quota).ok
    headers = {"X-Auth-Token": _token(cloud, "quota-racer", "quota-race")}
    image = admin.image_id(bootstrap.DEFAULT_IMAGE)

    def boot(i: int) -> requests.Response:
        body = {"server": {"name": f"race-{i}", "flavorRef": "1", "imageRef": image}}
        url = f"{cloud.url}/compute/v2.1/servers"
        return requests.post(url, json=body, headers=headers, timeout=120, verify=cloud.verify)

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(boot, range(50)))
    admitted = [r.json()["server"]["id"] for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 403]
    assert len(admitted) == 10 and len(refused) == 40, [r.status_code for r in responses]
    assert {r.json()["forbidden"]["message"] for r in refused} == {FULL}
    assert _live_servers(cloud, project_id) == 10
    _delete_all(cloud, headers, admitted, project_id)


def _delete_all(cloud: Cloud, headers: dict[str, str], ids: list[str], project_id: str) -> None:
    """Delete the servers at once (a boot still running is cancelled) and wait them out."""
    for server_id in ids:
        url = f"{cloud.url}/compute/v2.1/servers/{server_id}"
        deleted = requests.delete(url, headers=headers, timeout=30, verify=cloud.verify)
        assert deleted.status_code == 204
    wait_for(lambda: _live_servers(cloud, project_id) == 0, 300, "the servers to be deleted")


def _cli(cloud: Cloud, *args: str) -> Any:
    """``openstack ... -f json`` as the quota project's admin."""
    creds = ("--os-username", "quota-admin", "--os-password", PASSWORD)
    return cloud.openstack_json(*creds, "--os-project-name", "quota-cli", *args)


def test_cli_sets_and_shows_quotas_and_limits(cloud: Cloud) -> None:
    _user(cloud, "quota-admin", "quota-cli", "admin")
    creds = ("--os-username", "quota-admin", "--os-password", PASSWORD)
    limits = ("--instances", "10", "--cores", "40", "--volumes", "5")
    more = ("--networks", "3", "--floating-ips", "2")
    result = cloud.openstack(
        *creds, "--os-project-name", "quota-cli", "quota", "set", *limits, *more
    )
    assert result.returncode == 0, result.stderr
    shown = {row["Resource"]: row["Limit"] for row in _cli(cloud, "quota", "show")}
    assert (shown["instances"], shown["cores"], shown["ram"], shown["volumes"]) == (
        10,
        40,
        51200,
        5,
    )
    assert (shown["networks"], shown["floating_ips"], shown["ports"]) == (3, 2, 500)
    default = {row["Resource"]: row["Limit"] for row in _cli(cloud, "quota", "show", "--default")}
    assert (default["cores"], default["volumes"], default["networks"]) == (20, 10, 100)
    # The client names each limit by its SDK attribute (maxTotalInstances: instances).
    absolute = {row["Name"]: row["Value"] for row in _cli(cloud, "limits", "show", "--absolute")}
    assert (absolute["instances"], absolute["instances_used"]) == (10, 0)
    assert (absolute["total_cores"], absolute["total_ram"]) == (40, 51200)
    assert (absolute["max_total_volumes"], absolute["total_volumes_used"]) == (5, 0)


def test_the_cloud_admin_sets_another_projects_quota_by_name(cloud: Cloud) -> None:
    """The client finds the project through Keystone's admin API, then sets its quota."""
    _user(cloud, "quota-owner", "quota-named", "member")
    result = cloud.openstack("quota", "set", "--instances", "7", "--routers", "4", "quota-named")
    assert result.returncode == 0, result.stderr
    shown = {
        r["Resource"]: r["Limit"] for r in cloud.openstack_json("quota", "show", "quota-named")
    }
    assert (shown["instances"], shown["routers"]) == (7, 4)
    own = {r["Resource"]: r["Limit"] for r in cloud.openstack_json("quota", "show")}
    assert own["instances"] != 7 or own["routers"] != 4
    creds = ("--os-username", "quota-owner", "--os-password", PASSWORD)
    refused = cloud.openstack(
        *creds,
        "--os-project-name",
        "quota-named",
        "quota",
        "set",
        "--instances",
        "99",
        "quota-named",
    )
    assert refused.returncode != 0
