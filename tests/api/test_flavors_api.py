"""Nova's flavor management over the fake drivers: admins create, describe and delete
flavors, set extra specs and share private flavors; everyone else reads what it may see,
and bad input changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from nimbus.db import Flavor
from nimbus.db_compute import FlavorExtraSpec, FlavorProject
from tests.support.stack import Stack

FLAVORS = "/compute/v2.1/flavors"


def _h(stack: Stack, user: str = "admin", version: str | None = None) -> dict[str, str]:
    h = {"X-Auth-Token": stack.token(user)}
    if version:
        h["OpenStack-API-Version"] = f"compute {version}"
    return h


def _create(stack: Stack, user: str = "admin", version: str | None = None, **spec: Any) -> Any:
    body = {"flavor": {"name": "f1", "ram": 256, "vcpus": 1, "disk": 1, **spec}}
    return stack.client.post(FLAVORS, json=body, headers=_h(stack, user, version))


def _rows(stack: Stack) -> list[Any]:
    with stack.db.session() as s:
        flavors = [(f.id, f.name, f.description) for f in s.scalars(select(Flavor))]
        specs = [(e.flavor_id, e.key, e.value) for e in s.scalars(select(FlavorExtraSpec))]
        shares = [(p.flavor_id, p.project_id) for p in s.scalars(select(FlavorProject))]
    return sorted(flavors, key=str) + sorted(specs) + sorted(shares)


def test_an_admin_creates_a_flavor_everyone_lists(stack: Stack) -> None:
    r = _create(stack, id="small-1", swap=512, **{"OS-FLV-EXT-DATA:ephemeral": 2})
    assert r.status_code == 200, r.json
    made = r.json["flavor"]
    assert (made["id"], made["swap"], made["OS-FLV-EXT-DATA:ephemeral"]) == ("small-1", 512, 2)
    assert "description" not in made and "extra_specs" not in made  # 2.1
    listed = stack.client.get(f"{FLAVORS}/detail", headers=_h(stack, "alice")).json["flavors"]
    assert made in listed
    shown = stack.client.get(f"{FLAVORS}/small-1", headers=_h(stack, "rita")).json["flavor"]
    assert shown == made


def test_an_id_left_out_null_or_auto_becomes_a_uuid_and_a_number_its_text(stack: Stack) -> None:
    ids = [_create(stack, name=f"n{i}", **extra).json["flavor"]["id"]
           for i, extra in enumerate(({}, {"id": None}, {"id": "auto"}))]  # fmt: skip
    assert all(len(i) == 36 and i.count("-") == 4 for i in ids) and len(set(ids)) == 3
    assert _create(stack, name="numbered", id=42).json["flavor"]["id"] == "42"
    assert _create(stack, name="longest", id="x" * 255).json["flavor"]["id"] == "x" * 255


def test_a_taken_name_or_id_is_409(stack: Stack) -> None:
    assert _create(stack, id="x1").status_code == 200
    before = _rows(stack)
    assert _create(stack, id="x2").status_code == 409  # name f1 taken
    assert _create(stack, name="other", id="x1").status_code == 409
    assert _create(stack, name="m1.tiny").status_code == 409
    assert _rows(stack) == before


def test_bad_flavor_bodies_are_400_and_change_nothing(stack: Stack) -> None:
    before = _rows(stack)
    good = {"name": "ok", "ram": 256, "vcpus": 1, "disk": 1}
    cases: list[Any] = [
        {},
        {"flavor": "x"},
        {"flavor": good, "extra": 1},
        {"flavor": {**good, "unknown": 1}},
        {"flavor": {k: v for k, v in good.items() if k != "ram"}},
        {"flavor": {**good, "name": " padded"}},
        {"flavor": {**good, "name": ""}},
        {"flavor": {**good, "ram": 0}},
        {"flavor": {**good, "vcpus": -1}},
        {"flavor": {**good, "vcpus": 1.5}},
        {"flavor": {**good, "vcpus": True}},
        {"flavor": {**good, "disk": "lots"}},
        {"flavor": {**good, "disk": 2**31}},
        {"flavor": {**good, "swap": -1}},
        {"flavor": {**good, "id": "a/b"}},
        {"flavor": {**good, "id": " lead"}},
        {"flavor": {**good, "id": "trailing-newline\n"}},
        {"flavor": {**good, "id": "x" * 256}},
        {"flavor": {**good, "rxtx_factor": 0}},
        {"flavor": {**good, "os-flavor-access:is_public": "maybe"}},
        {"flavor": {**good, "description": "not before 2.55"}},
    ]
    for body in cases:
        r = stack.client.post(FLAVORS, json=body, headers=_h(stack))
        assert r.status_code == 400, (body, r.json)
    assert stack.client.post(FLAVORS, data="{", headers=_h(stack)).status_code == 400
    assert _rows(stack) == before


def test_only_admins_create_update_and_delete(stack: Stack) -> None:
    before = _rows(stack)
    for user in ("alice", "rita", "bob"):
        assert _create(stack, user).status_code == 403
        h = _h(stack, user, "2.55")
        put = stack.client.put(f"{FLAVORS}/1", json={"flavor": {"description": "x"}}, headers=h)
        assert put.status_code == 403
        assert stack.client.delete(f"{FLAVORS}/1", headers=h).status_code == 403
    assert _rows(stack) == before


def test_a_description_from_2_55_is_the_one_thing_put_changes(stack: Stack) -> None:
    made = _create(stack, "admin", "2.55", id="d1", description="for tests").json["flavor"]
    assert made["description"] == "for tests"
    brief = stack.client.get(FLAVORS, headers=_h(stack, "alice", "2.55")).json["flavors"]
    assert {"id": "d1", "name": "f1", "description": "for tests", "links": made["links"]} in brief
    assert "description" not in stack.client.get(FLAVORS, headers=_h(stack)).json["flavors"][0]
    url, h = f"{FLAVORS}/d1", _h(stack, "admin", "2.55")
    r = stack.client.put(url, json={"flavor": {"description": "changed"}}, headers=h)
    assert r.status_code == 200 and r.json["flavor"] == {**made, "description": "changed"}
    before = _rows(stack)
    for body in (
        {"flavor": {"description": "x", "name": "renamed"}},
        {"flavor": {"ram": 1024}},
        {"flavor": {"description": "\x00"}},
        {"flavor": {"description": "x" * 65536}},
        {"flavor": {"description": "x"}, "more": 1},
        [],
    ):
        assert stack.client.put(url, json=body, headers=h).status_code == 400, body
    put = {"flavor": {"description": "x"}}
    assert stack.client.put(f"{FLAVORS}/missing", json=put, headers=h).status_code == 404
    assert stack.client.put(url, json=put, headers=_h(stack, "admin", "2.54")).status_code == 404
    assert _rows(stack) == before
    cleared = stack.client.put(url, json={"flavor": {"description": None}}, headers=h)
    assert cleared.json["flavor"]["description"] is None


def test_swap_is_an_empty_string_until_2_75(stack: Stack) -> None:
    url = f"{FLAVORS}/1"
    assert stack.client.get(url, headers=_h(stack, "alice")).json["flavor"]["swap"] == ""
    assert stack.client.get(url, headers=_h(stack, "alice", "2.74")).json["flavor"]["swap"] == ""
    assert stack.client.get(url, headers=_h(stack, "alice", "2.75")).json["flavor"]["swap"] == 0


def test_list_parameters_are_checked_and_unknown_ones_refused_from_2_75(stack: Stack) -> None:
    url = f"{FLAVORS}/detail"
    assert stack.client.get(f"{url}?foo=1", headers=_h(stack, "alice", "2.74")).status_code == 200
    assert stack.client.get(f"{url}?foo=1", headers=_h(stack, "alice", "2.75")).status_code == 400
    for bad in ("sort_key=colour", "sort_dir=up", "minDisk=big", "limit=x", "is_public=perhaps"):
        r = stack.client.get(f"{url}?{bad}", headers=_h(stack, "admin", "2.75"))
        assert r.status_code == 400, bad
    by_ram = stack.client.get(
        f"{url}?sort_key=memory_mb&sort_dir=desc", headers=_h(stack, "alice")
    ).json["flavors"]
    assert [f["ram"] for f in by_ram] == sorted((f["ram"] for f in by_ram), reverse=True)
    huge = stack.client.get(f"{url}?minRam={2**40}", headers=_h(stack, "alice"))
    assert huge.status_code == 200 and huge.json["flavors"] == []


def test_delete_is_202_and_then_404(stack: Stack) -> None:
    _create(stack, id="gone")
    assert stack.client.delete(f"{FLAVORS}/gone", headers=_h(stack)).status_code == 202
    assert stack.client.get(f"{FLAVORS}/gone", headers=_h(stack)).status_code == 404
    assert stack.client.delete(f"{FLAVORS}/gone", headers=_h(stack)).status_code == 404
    assert _create(stack, id="gone").status_code == 200  # name and id are free again


def test_extra_specs_are_read_by_all_written_by_admins_and_shown_from_2_61(stack: Stack) -> None:
    url, h = f"{FLAVORS}/1/os-extra_specs", _h(stack)
    r = stack.client.post(url, json={"extra_specs": {"hw:cpu_policy": "shared", "n": 2}}, headers=h)
    assert r.status_code == 200 and r.json == {"extra_specs": {"hw:cpu_policy": "shared", "n": 2}}
    r = stack.client.put(f"{url}/n", json={"n": "3"}, headers=h)
    assert r.status_code == 200 and r.json == {"n": "3"}
    reader = _h(stack, "rita")
    wanted = {"hw:cpu_policy": "shared", "n": "3"}
    assert stack.client.get(url, headers=reader).json == {"extra_specs": wanted}
    assert stack.client.get(f"{url}/n", headers=reader).json == {"n": "3"}
    shown = stack.client.get(f"{FLAVORS}/1", headers=_h(stack, "alice", "2.61")).json["flavor"]
    assert shown["extra_specs"] == wanted
    listed = stack.client.get(f"{FLAVORS}/detail", headers=_h(stack, "alice", "2.61")).json
    assert {f["id"]: f["extra_specs"] for f in listed["flavors"]}["2"] == {}
    assert (
        "extra_specs"
        not in stack.client.get(f"{FLAVORS}/1", headers=_h(stack, "alice", "2.60")).json["flavor"]
    )
    assert stack.client.delete(f"{url}/n", headers=h).status_code == 200
    assert stack.client.get(f"{url}/n", headers=reader).status_code == 404
    assert stack.client.delete(f"{url}/n", headers=h).status_code == 404


def test_bad_extra_spec_writes_change_nothing(stack: Stack) -> None:
    url, h = f"{FLAVORS}/1/os-extra_specs", _h(stack)
    stack.client.post(url, json={"extra_specs": {"kept": "1"}}, headers=h)
    before = _rows(stack)
    for body in (
        {},
        {"extra_specs": "x"},
        {"extra_specs": {"bad/key": "1"}},
        {"extra_specs": {"newline\n": "1"}},
        {"extra_specs": {"k": None}},
        {"extra_specs": {"k": True}},
        {"extra_specs": {"k": "v" * 256}},
        {"extra_specs": {"k": "v"}, "more": 1},
    ):
        assert stack.client.post(url, json=body, headers=h).status_code == 400, body
    for body in ({"other": "1"}, {"kept": "1", "more": "2"}, {}, {"kept": {"a": 1}}):
        assert stack.client.put(f"{url}/kept", json=body, headers=h).status_code == 400, body
    missing = f"{FLAVORS}/missing/os-extra_specs"
    assert (
        stack.client.post(missing, json={"extra_specs": {"a": "1"}}, headers=h).status_code == 404
    )
    assert stack.client.get(missing, headers=h).status_code == 404
    for user in ("alice", "rita"):
        uh = _h(stack, user)
        assert (
            stack.client.post(url, json={"extra_specs": {"a": "1"}}, headers=uh).status_code == 403
        )
        assert stack.client.put(f"{url}/kept", json={"kept": "2"}, headers=uh).status_code == 403
        assert stack.client.delete(f"{url}/kept", headers=uh).status_code == 403
    assert _rows(stack) == before


def test_a_private_flavor_is_seen_only_by_admins_and_the_projects_it_is_shared_with(
    stack: Stack,
) -> None:
    _create(stack, id="priv", **{"os-flavor-access:is_public": False})
    demo = stack.token_info(stack.token("alice"))["project"]["id"]
    alice, bob = _h(stack, "alice"), _h(stack, "bob")
    assert stack.client.get(f"{FLAVORS}/priv", headers=alice).status_code == 404
    assert "priv" not in [f["id"] for f in stack.client.get(FLAVORS, headers=alice).json["flavors"]]
    action = f"{FLAVORS}/priv/action"
    r = stack.client.post(action, json={"addTenantAccess": {"tenant": demo}}, headers=_h(stack))
    assert r.status_code == 200, r.json
    assert r.json == {"flavor_access": [{"flavor_id": "priv", "tenant_id": demo}]}
    assert stack.client.get(f"{FLAVORS}/priv", headers=alice).status_code == 200
    assert "priv" in [f["id"] for f in stack.client.get(FLAVORS, headers=alice).json["flavors"]]
    assert stack.client.get(f"{FLAVORS}/priv", headers=bob).status_code == 404
    access = stack.client.get(f"{FLAVORS}/priv/os-flavor-access", headers=_h(stack))
    assert access.json == r.json
    admin_all = stack.client.get(f"{FLAVORS}?is_public=false", headers=_h(stack)).json
    assert [f["id"] for f in admin_all["flavors"]] == ["priv"]
    bob_all = stack.client.get(f"{FLAVORS}?is_public=none", headers=bob).json["flavors"]
    assert "priv" not in [f["id"] for f in bob_all]
    gone = {"removeTenantAccess": {"tenant": demo}}
    assert stack.client.post(action, json=gone, headers=_h(stack)).json == {"flavor_access": []}
    assert stack.client.get(f"{FLAVORS}/priv", headers=alice).status_code == 404


def test_flavor_access_refusals_change_nothing(stack: Stack) -> None:
    _create(stack, id="priv", **{"os-flavor-access:is_public": False})
    demo = stack.token_info(stack.token("alice"))["project"]["id"]
    h = _h(stack)
    add = {"addTenantAccess": {"tenant": demo}}
    stack.client.post(f"{FLAVORS}/priv/action", json=add, headers=h)
    before = _rows(stack)
    cases: list[tuple[str, Any, int]] = [
        ("priv", add, 409),  # already shared
        ("priv", {"addTenantAccess": {"tenant": "no-such-project"}}, 400),
        ("priv", {"removeTenantAccess": {"tenant": "never-shared"}}, 404),
        ("priv", {"addTenantAccess": {}}, 400),
        ("priv", {"addTenantAccess": 5}, 400),
        ("priv", {"addTenantAccess": ["tenant"]}, 400),
        ("priv", {"addTenantAccess": {"tenant": demo, "x": 1}}, 400),
        ("priv", {"shareWithEveryone": {}}, 400),
        ("1", add, 409),  # public, from 2.7
        ("missing", add, 404),
    ]
    for flavor_id, body, status in cases:
        url = f"{FLAVORS}/{flavor_id}/action"
        r = stack.client.post(url, json=body, headers=_h(stack, "admin", "2.7"))
        assert r.status_code == status, (flavor_id, body, r.json)
    assert stack.client.get(f"{FLAVORS}/1/os-flavor-access", headers=h).status_code == 404
    for user in ("alice", "rita", "bob"):
        uh = _h(stack, user)
        assert stack.client.post(f"{FLAVORS}/priv/action", json=add, headers=uh).status_code == 403
        assert stack.client.get(f"{FLAVORS}/priv/os-flavor-access", headers=uh).status_code == 403
    assert _rows(stack) == before
