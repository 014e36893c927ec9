"""Nova's server groups and availability zones over the fake drivers: shapes by
microversion, validation, quotas, who sees what; the ``group`` hint and the
``availability_zone`` of a server create, and what the scheduler does with them on the
stack's one host."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.scheduler import NO_VALID_HOST
from tests.support.stack import Stack
from workflows.common import server_workflow_id

GROUPS = "/compute/v2.1/os-server-groups"
ZONES = "/compute/v2.1/os-availability-zone"


def _call(
    stack: Stack,
    method: str,
    url: str,
    body: Any = None,
    version: str = "2.79",
    user: str = "alice",
) -> tuple[int, dict[str, Any]]:
    headers = {"X-Auth-Token": stack.token(user), "OpenStack-API-Version": f"compute {version}"}
    response = stack.client.open(url, method=method, json=body, headers=headers)
    return response.status_code, dict(response.json or {})


def _group(stack: Stack, version: str = "2.79", user: str = "alice", **spec: Any) -> dict:
    status, body = _call(stack, "POST", GROUPS, {"server_group": spec}, version, user)
    assert status == 200, body
    return dict(body["server_group"])


def _server(
    stack: Stack, name: str, version: str = "2.79", user: str = "alice", **extra: Any
) -> str:
    server = {"name": name, "flavorRef": "1", "imageRef": stack.image_id(), "networks": "none"}
    body: dict[str, Any] = {"server": {**server, **extra.pop("server", {})}, **extra}
    status, answer = _call(stack, "POST", "/compute/v2.1/servers", body, version, user)
    assert status == 202, answer
    server_id = str(answer["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def test_a_group_shows_as_each_microversion_shows_it(stack: Stack) -> None:
    old = _group(stack, "2.1", name="web", policies=["anti-affinity"])
    assert old == {
        "id": old["id"],
        "name": "web",
        "policies": ["anti-affinity"],
        "metadata": {},
        "members": [],
    }
    status, body = _call(stack, "GET", f"{GROUPS}/{old['id']}", version="2.13")
    assert status == 200 and set(body["server_group"]) == {
        "id", "name", "policies", "metadata", "members", "project_id", "user_id"
    }  # fmt: skip
    new = _group(stack, name="db", policy="anti-affinity", rules={"max_server_per_host": "2"})
    assert new["policy"] == "anti-affinity" and new["rules"] == {"max_server_per_host": 2}
    assert "policies" not in new and "metadata" not in new
    status, body = _call(stack, "GET", GROUPS)
    assert [g["name"] for g in body["server_groups"]] == ["web", "db"]
    status, body = _call(stack, "GET", f"{GROUPS}?limit=1&offset=1")
    assert [g["name"] for g in body["server_groups"]] == ["db"]


@pytest.mark.parametrize(
    ("version", "spec", "message"),
    [
        ("2.14", {"name": "g", "policies": ["soft-affinity"]}, "policy"),
        ("2.1", {"name": "g", "policies": ["affinity", "anti-affinity"]}, "policies"),
        ("2.64", {"name": "g", "policies": ["affinity"]}, "'policies' was unexpected"),
        ("2.64", {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}},
         'Only anti-affinity policy supports "max_server_per_host" rule.'),
        ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}},
         "max_server_per_host"),
        ("2.64", {"name": "", "policy": "affinity"}, "name"),
        ("2.64", {"name": "g", "policy": "clustered"}, "policy"),
    ],
)  # fmt: skip
def test_bad_groups_are_refused_and_none_is_made(
    stack: Stack, version: str, spec: dict, message: str
) -> None:
    status, body = _call(stack, "POST", GROUPS, {"server_group": spec}, version)
    assert status == 400 and message in body["badRequest"]["message"]
    assert _call(stack, "GET", GROUPS)[1]["server_groups"] == []


def test_a_project_holds_ten_groups(stack: Stack) -> None:
    for i in range(10):
        _group(stack, name=f"g{i}", policy="affinity")
    status, body = _call(
        stack, "POST", GROUPS, {"server_group": {"name": "x", "policy": "affinity"}}
    )
    assert (
        status == 403 and body["forbidden"]["message"] == "Quota exceeded, too many server groups."
    )


def test_another_project_neither_sees_nor_uses_a_group_but_an_admin_sees_all(
    stack: Stack,
) -> None:
    group = _group(stack, name="mine", policy="affinity")
    assert _call(stack, "GET", f"{GROUPS}/{group['id']}", user="bob")[0] == 404
    assert _call(stack, "DELETE", f"{GROUPS}/{group['id']}", user="bob")[0] == 404
    assert _call(stack, "GET", f"{GROUPS}?all_projects=True", user="bob")[1]["server_groups"] == []
    status, body = _call(stack, "GET", f"{GROUPS}?all_projects=True", user="admin")
    assert [g["id"] for g in body["server_groups"]] == [group["id"]]
    hint = {"os:scheduler_hints": {"group": group["id"]}}
    server = {"name": "x", "flavorRef": "1", "imageRef": stack.image_id(), "networks": "none"}
    status, body = _call(
        stack, "POST", "/compute/v2.1/servers", {"server": server, **hint}, user="bob"
    )
    assert status == 400 and "could not be found" in body["badRequest"]["message"]
    assert _call(stack, "DELETE", f"{GROUPS}/{group['id']}")[0] == 204
    assert _call(stack, "GET", f"{GROUPS}/{group['id']}")[0] == 404


def test_members_of_an_affinity_group_share_the_host_and_the_group_lists_them(
    stack: Stack,
) -> None:
    group = _group(stack, name="pair", policy="affinity")
    hint = {"os:scheduler_hints": {"group": group["id"]}}
    first, second = _server(stack, "a", **hint), _server(stack, "b", **hint)
    status, body = _call(stack, "GET", f"{GROUPS}/{group['id']}")
    assert body["server_group"]["members"] == [first, second]
    status, body = _call(stack, "GET", f"/compute/v2.1/servers/{second}")
    assert body["server"]["server_groups"] == [group["id"]]
    assert body["server"]["status"] == "ACTIVE"
    status, body = _call(stack, "GET", f"/compute/v2.1/servers/{first}", version="2.70")
    assert "server_groups" not in body["server"]


def test_a_second_anti_affinity_member_finds_no_valid_host_and_leaves_nothing(
    stack: Stack,
) -> None:
    group = _group(stack, name="spread", policy="anti-affinity")
    hint = {"os:scheduler_hints": {"group": group["id"]}}
    first = _server(stack, "a", **hint)
    second = _server(stack, "b", **hint)
    status, body = _call(stack, "GET", f"/compute/v2.1/servers/{second}")
    assert body["server"]["status"] == "ERROR"
    assert body["server"]["fault"]["message"] == NO_VALID_HOST
    assert f"nimbus-{second}" not in stack.hypervisor.domains
    assert f"nimbus-{first}" in stack.hypervisor.domains
    history = stack.history(server_workflow_id(second, "boot"))
    assert "testhost: holds 1 of its anti-affinity group's servers" in history


def test_a_group_past_ten_members_is_refused(stack: Stack) -> None:
    project = stack.token_info(stack.token("alice"))["project"]["id"]
    quota = {"quota_set": {"instances": 20, "cores": 20, "ram": 1 << 20}}
    assert (
        _call(stack, "PUT", f"/compute/v2.1/os-quota-sets/{project}", quota, user="admin")[0] == 200
    )
    group = _group(stack, name="many", policy="soft-anti-affinity")
    server = {"name": "x", "flavorRef": "1", "imageRef": stack.image_id(), "networks": "none"}
    body = {"server": {**server, "min_count": 11}, "os:scheduler_hints": {"group": group["id"]}}
    status, answer = _call(stack, "POST", "/compute/v2.1/servers", body)
    assert status == 403 and "too many servers in group" in answer["forbidden"]["message"]
    assert _call(stack, "GET", "/compute/v2.1/servers")[1]["servers"] == []


def test_zones_list_the_hosts_zone_and_a_create_picks_one(stack: Stack) -> None:
    status, body = _call(stack, "GET", ZONES)
    assert body["availabilityZoneInfo"] == [
        {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}
    ]
    assert _call(stack, "GET", f"{ZONES}/detail")[0] == 403
    status, body = _call(stack, "GET", f"{ZONES}/detail", user="admin")
    [zone] = body["availabilityZoneInfo"]
    assert zone["hosts"]["testhost"]["nova-compute"]["active"] is True

    server_id = _server(stack, "z", server={"availability_zone": "nova"})
    status, body = _call(stack, "GET", f"/compute/v2.1/servers/{server_id}")
    assert body["server"]["OS-EXT-AZ:availability_zone"] == "nova"
    server = {"name": "x", "flavorRef": "1", "imageRef": stack.image_id(), "networks": "none"}
    for zone_name, user, expected in (("elsewhere", "alice", 400), ("nova:testhost", "alice", 403)):
        body = {"server": {**server, "availability_zone": zone_name}}
        assert _call(stack, "POST", "/compute/v2.1/servers", body, user=user)[0] == expected
    forced = _server(stack, "f", user="admin", server={"availability_zone": "nova:testhost"})
    status, body = _call(stack, "GET", f"/compute/v2.1/servers/{forced}", user="admin")
    assert body["server"]["OS-EXT-SRV-ATTR:host"] == "testhost"
