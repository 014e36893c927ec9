"""Nova's multiple create: min_count/max_count on one request, within the quota."""

from __future__ import annotations

from typing import Any

from nimbus.db import Server
from tests.support.stack import Stack
from workflows.common import server_workflow_id

SERVERS = "/compute/v2.1/servers"


def _h(stack: Stack, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user)}


def _body(stack: Stack, **over: Any) -> dict[str, Any]:
    return {"server": {"name": "web", "flavorRef": "1", "imageRef": stack.image_id(), **over}}


def _rows(stack: Stack) -> list[Server]:
    with stack.db.session() as s:
        return sorted(s.query(Server).all(), key=lambda r: r.name)


def _limit_instances(stack: Stack, n: int) -> None:
    project = stack.token_info(stack.token("alice"))["project"]["id"]
    r = stack.client.put(
        f"{SERVERS.rsplit('/', 1)[0]}/os-quota-sets/{project}",
        json={"quota_set": {"instances": n}},
        headers=_h(stack, "admin"),
    )
    assert r.status_code == 200, r.json


def test_max_count_makes_that_many_servers_named_by_index(stack: Stack) -> None:
    r = stack.client.post(SERVERS, json=_body(stack, min_count=2, max_count=3), headers=_h(stack))
    assert r.status_code == 202, r.json
    rows = _rows(stack)
    assert [x.name for x in rows] == ["web-1", "web-2", "web-3"]
    assert r.json["server"]["id"] in {x.id for x in rows}
    assert len({x.reservation_id for x in rows}) == 1
    for row in rows:
        stack.finish(server_workflow_id(row.id, "boot"))
    listed = stack.client.get(
        f"{SERVERS}/detail?reservation_id={rows[0].reservation_id}", headers=_h(stack)
    ).json["servers"]
    assert sorted(x["name"] for x in listed) == ["web-1", "web-2", "web-3"]
    assert {x["status"] for x in listed} == {"ACTIVE"}


def test_the_quota_caps_the_count_between_min_and_max(stack: Stack) -> None:
    _limit_instances(stack, 2)
    r = stack.client.post(SERVERS, json=_body(stack, min_count=1, max_count=5), headers=_h(stack))
    assert r.status_code == 202, r.json
    assert [x.name for x in _rows(stack)] == ["web-1", "web-2"]


def test_fewer_than_min_count_in_quota_is_refused_and_makes_nothing(stack: Stack) -> None:
    _limit_instances(stack, 2)
    r = stack.client.post(SERVERS, json=_body(stack, min_count=3, max_count=4), headers=_h(stack))
    assert r.status_code == 403 and "instances" in r.json["forbidden"]["message"].lower()
    assert _rows(stack) == []


def test_bad_counts_are_400_and_make_nothing(stack: Stack) -> None:
    bad = [
        {"min_count": 3, "max_count": 2},
        {"min_count": 0},
        {"max_count": "many"},
        {"max_count": 2, "networks": [{"port": "4f1e2d3c-0000-4000-8000-000000000001"}]},
    ]
    for over in bad:
        r = stack.client.post(SERVERS, json=_body(stack, **over), headers=_h(stack))
        assert r.status_code == 400, (over, r.json)
    assert _rows(stack) == []


def test_return_reservation_id_answers_with_it(stack: Stack) -> None:
    r = stack.client.post(
        SERVERS, json=_body(stack, max_count=2, return_reservation_id=True), headers=_h(stack)
    )
    assert r.status_code == 202 and r.json["reservation_id"].startswith("r-")
    assert {x.reservation_id for x in _rows(stack)} == {r.json["reservation_id"]}


def test_a_retry_with_the_same_key_makes_no_more_servers(stack: Stack) -> None:
    h = {**_h(stack), "Idempotency-Key": "multi-1"}
    first = stack.client.post(SERVERS, json=_body(stack, max_count=2), headers=h)
    again = stack.client.post(SERVERS, json=_body(stack, max_count=2), headers=h)
    assert again.status_code == 202 and again.json["server"]["id"] == first.json["server"]["id"]
    assert len(_rows(stack)) == 2
