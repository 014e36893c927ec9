"""Nova's key pairs over the fake drivers: per user, generated or imported, by version."""

from __future__ import annotations

from typing import Any

from nimbus.db import Server
from nimbus.sshkeys import generate
from tests.support.stack import Stack
from workflows.common import server_workflow_id

KEYS = "/compute/v2.1/os-keypairs"
V2_10 = {"OpenStack-API-Version": "compute 2.10"}
IMPORTED = generate("imported").public_key


def _h(stack: Stack, user: str = "alice", **extra: str) -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user), **extra}


def _create(stack: Stack, user: str = "alice", headers: Any = None, **spec: Any) -> Any:
    return stack.client.post(
        KEYS, json={"keypair": spec}, headers={**_h(stack, user), **(headers or {})}
    )


def test_a_generated_key_is_returned_once_and_listed_without_it(stack: Stack) -> None:
    r = _create(stack, name="k1")
    assert r.status_code == 200, r.json  # 2.1: 200; the private key only here
    made = r.json["keypair"]
    assert made["private_key"].startswith("-----BEGIN") and "type" not in made
    listed = stack.client.get(KEYS, headers=_h(stack)).json["keypairs"]
    assert listed == [{"keypair": {k: made[k] for k in ("name", "public_key", "fingerprint")}}]
    shown = stack.client.get(f"{KEYS}/k1", headers=_h(stack)).json["keypair"]
    assert "private_key" not in shown and isinstance(shown["id"], int)
    assert shown["user_id"] == made["user_id"]


def test_at_2_2_create_is_201_with_type_and_delete_is_204(stack: Stack) -> None:
    v22 = {"OpenStack-API-Version": "compute 2.2"}
    r = _create(stack, headers=v22, name="k2", public_key=IMPORTED)
    assert r.status_code == 201 and r.json["keypair"]["type"] == "ssh"
    assert "private_key" not in r.json["keypair"]
    assert stack.client.delete(f"{KEYS}/k2", headers=_h(stack, **v22)).status_code == 204
    assert stack.client.get(f"{KEYS}/k2", headers=_h(stack)).status_code == 404


def test_key_pairs_belong_to_their_user(stack: Stack) -> None:
    _create(stack, name="mine", public_key=IMPORTED)
    assert stack.client.get(f"{KEYS}/mine", headers=_h(stack, "bob")).status_code == 404
    assert stack.client.delete(f"{KEYS}/mine", headers=_h(stack, "bob")).status_code == 404
    assert stack.client.get(KEYS, headers=_h(stack, "bob")).json["keypairs"] == []
    assert _create(stack, "bob", name="mine", public_key=IMPORTED).status_code == 200


def test_an_admin_reads_another_users_keys_from_2_10(stack: Stack) -> None:
    alice = _create(stack, name="a", public_key=IMPORTED).json["keypair"]["user_id"]
    url = f"{KEYS}?user_id={alice}"
    assert stack.client.get(url, headers=_h(stack, "admin")).json["keypairs"] == []  # 2.1
    found = stack.client.get(url, headers=_h(stack, "admin", **V2_10)).json["keypairs"]
    assert [k["keypair"]["name"] for k in found] == ["a"]
    refused = stack.client.get(url, headers=_h(stack, "bob", **V2_10))
    assert refused.status_code == 403


def test_bad_input_is_refused_and_changes_nothing(stack: Stack) -> None:
    assert _create(stack, name="dup", public_key=IMPORTED).status_code == 200
    cases = [
        ({"name": "dup", "public_key": IMPORTED}, 409),
        ({"name": "bad/name"}, 400),
        ({"name": ""}, 400),
        ({"name": "x", "public_key": "ssh-rsa AAAAnot-a-key"}, 400),
        ({"name": "x", "public_key": "hello"}, 400),
        ({"name": "x", "type": "x509"}, 400),
    ]
    for spec, status in cases:
        r = _create(stack, **spec)
        assert r.status_code == status, (spec, r.json)
    assert _create(stack, "rita", name="reader-key").status_code == 403
    names = [
        k["keypair"]["name"] for k in stack.client.get(KEYS, headers=_h(stack)).json["keypairs"]
    ]
    assert names == ["dup"]
    assert stack.client.delete(f"{KEYS}/nope", headers=_h(stack)).status_code == 404


def test_a_server_keeps_its_key_and_an_unknown_key_is_400(stack: Stack) -> None:
    _create(stack, name="boot", public_key=IMPORTED)
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id()}}
    bad = {"server": {**body["server"], "key_name": "missing"}}
    r = stack.client.post("/compute/v2.1/servers", json=bad, headers=_h(stack))
    assert r.status_code == 400 and "key_name" in r.json["badRequest"]["message"]
    ok = {"server": {**body["server"], "key_name": "boot"}}
    r = stack.client.post("/compute/v2.1/servers", json=ok, headers=_h(stack))
    server_id = r.json["server"]["id"]
    stack.finish(server_workflow_id(server_id, "boot"))
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=_h(stack))
    assert shown.json["server"]["key_name"] == "boot"
    with stack.db.session() as s:
        row = s.get(Server, server_id)
        assert row is not None and row.key_data == IMPORTED
    other = stack.client.post("/compute/v2.1/servers", json=ok, headers=_h(stack, "bob"))
    assert other.status_code == 400  # bob has no key pair called boot


def test_from_2_35_the_list_pages_by_name_with_a_next_link(stack: Stack) -> None:
    for name in ("c", "a", "b"):
        _create(stack, name=name, public_key=IMPORTED)
    h = _h(stack, **{"OpenStack-API-Version": "compute 2.35"})
    first = stack.client.get(f"{KEYS}?limit=2", headers=h).json
    assert [k["keypair"]["name"] for k in first["keypairs"]] == ["a", "b"]
    (link,) = first["keypairs_links"]
    assert link["rel"] == "next" and link["href"].endswith("/os-keypairs?limit=2&marker=b")
    rest = stack.client.get(f"{KEYS}?limit=2&marker=b", headers=h).json
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["c"]
    assert "keypairs_links" not in rest
    whole = stack.client.get(f"{KEYS}?limit=2", headers=_h(stack)).json  # 2.1: no paging
    assert len(whole["keypairs"]) == 3 and "keypairs_links" not in whole


def test_bad_paging_is_400_and_unknown_parameters_too_from_2_75(stack: Stack) -> None:
    _create(stack, name="a", public_key=IMPORTED)
    v235 = _h(stack, **{"OpenStack-API-Version": "compute 2.35"})
    v275 = _h(stack, **{"OpenStack-API-Version": "compute 2.75"})
    for query in ("limit=-1", "limit=x", "marker=missing"):
        assert stack.client.get(f"{KEYS}?{query}", headers=v235).status_code == 400, query
    assert stack.client.get(f"{KEYS}?colour=red", headers=v235).status_code == 200
    assert stack.client.get(f"{KEYS}?colour=red", headers=v275).status_code == 400
    assert stack.client.get(f"{KEYS}/a?colour=red", headers=v275).status_code == 400
    assert stack.client.delete(f"{KEYS}/a?colour=red", headers=v275).status_code == 400
    assert stack.client.get(f"{KEYS}/a", headers=v275).status_code == 200
