"""Compute microversions 2.27 to 2.79 on the server routes: what each version adds to a
request and a response, and what it refuses, as Nova's schemas and views have it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from nimbus.db import Image, Server
from tests.support.cli_local import cli, ok, served, settings
from tests.support.neutron import Neutron
from tests.support.stack import Stack
from workflows.common import server_workflow_id

__all__ = ["served", "settings"]  # fixtures, used by name

SERVERS = "/compute/v2.1/servers"


def _h(stack: Stack, version: str, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user), "OpenStack-API-Version": f"compute {version}"}


def _create(stack: Stack, version: str, user: str = "alice", **extra: Any) -> Any:
    spec = {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id(), **extra}
    return stack.client.post(SERVERS, json={"server": spec}, headers=_h(stack, version, user))


def _server(stack: Stack, version: str = "2.79", user: str = "alice", **extra: Any) -> str:
    extra.setdefault("networks", "none")
    r = _create(stack, version, user, **extra)
    assert r.status_code == 202, r.json
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _count(stack: Stack) -> int:
    with stack.db.session() as s:
        return s.query(Server).count()


def test_create_refuses_what_its_version_does_not_know(stack: Stack) -> None:
    """Each create field is refused below the version that brings it (and personality from
    the version that drops it), with nothing made."""
    before = _count(stack)
    for version, extra in (
        ("2.18", {"description": "d"}),
        ("2.51", {"tags": ["a"]}),
        ("2.62", {"trusted_image_certificates": None}),
        ("2.73", {"host": "x"}),
        ("2.57", {"personality": [{"path": "/etc/x", "contents": "eA=="}]}),
        ("2.79", {"bogus": 1}),
        ("2.36", {"networks": [{"uuid": "x", "tag": "t", "port": None, "extra": 1}]}),
        ("2.37", {"networks": [{"uuid": "not-a-uuid"}]}),
        ("2.40", {"networks": [{"uuid": "3b4bd4d2-0000-4000-8000-000000000001", "tag": "t"}]}),
        ("2.79", {"networks": [{"uuid": "3b4bd4d2-0000-4000-8000-000000000001", "tag": "a/b"}]}),
        ("2.79", {"tags": ["a,b"]}),
        ("2.79", {"trusted_image_certificates": ["cert-1"]}),
        ("2.79", {"networks": "some"}),
    ):
        r = _create(stack, version, **extra)
        assert r.status_code == 400, (version, extra, r.json)
    missing = _create(stack, "2.37")  # networks is required from 2.37
    assert missing.status_code == 400 and "'networks' is a required property" in str(missing.json)
    auto = _create(stack, "2.37", networks="auto")  # no network the project could use
    assert auto.status_code == 400 and "Unable to automatically allocate" in str(auto.json)
    assert _count(stack) == before


def test_tags_certificates_and_host_on_create(stack: Stack) -> None:
    server_id = _server(stack, tags=["web", "web", "db"], trusted_image_certificates=None)
    shown = stack.client.get(f"{SERVERS}/{server_id}", headers=_h(stack, "2.79")).json["server"]
    assert shown["tags"] == ["web", "db"]
    assert shown["trusted_image_certificates"] is None
    assert (
        "trusted_image_certificates"
        not in (
            stack.client.get(f"{SERVERS}/{server_id}", headers=_h(stack, "2.62")).json["server"]
        )
    )
    # 2.74: only an admin names the host, and only one that is registered.
    host = stack.server(server_id).host  # type: ignore[union-attr]
    refused = _create(stack, "2.74", networks="none", host=host)
    assert refused.status_code == 403
    unknown = _create(stack, "2.74", user="admin", networks="none", host="nowhere")
    assert unknown.status_code == 400 and "nowhere could not be found" in str(unknown.json)
    mismatch = _create(
        stack, "2.74", user="admin", networks="none", host=host, hypervisor_hostname="other"
    )
    assert mismatch.status_code == 400
    placed = _server(stack, "2.74", user="admin", hypervisor_hostname=host)
    assert stack.server(placed).host == host  # type: ignore[union-attr]


def test_device_tags_reach_the_attachment_views(stack: Stack) -> None:
    neutron = Neutron(stack, "alice")
    net = neutron.network("net")
    neutron.subnet(net["id"])
    server_id = _server(stack, "2.42", networks=[{"uuid": net["id"], "tag": "nic1"}])
    url = f"{SERVERS}/{server_id}/os-interface"
    (nic,) = stack.client.get(url, headers=_h(stack, "2.70")).json["interfaceAttachments"]
    assert nic["tag"] == "nic1"
    (old,) = stack.client.get(url, headers=_h(stack, "2.69")).json["interfaceAttachments"]
    assert "tag" not in old
    # 2.49: a tag on attach; refused before it.
    attach = {"interfaceAttachment": {"net_id": net["id"], "tag": "nic2"}}
    early = stack.client.post(url, json=attach, headers=_h(stack, "2.48"))
    assert early.status_code == 400
    added = stack.client.post(url, json=attach, headers=_h(stack, "2.70"))
    assert added.status_code == 200, added.json
    assert added.json["interfaceAttachment"]["tag"] == "nic2"
    tags = {
        n["tag"]
        for n in stack.client.get(url, headers=_h(stack, "2.79")).json["interfaceAttachments"]
    }
    assert tags == {"nic1", "nic2"}


def test_volume_attach_tag_and_delete_on_termination(stack: Stack) -> None:
    h = _h(stack, "2.79")
    project = stack.token_info(h["X-Auth-Token"])["project"]["id"]
    volume_id = stack.client.post(
        f"/volume/v3/{project}/volumes", json={"volume": {"size": 1}}, headers=h
    ).json["volume"]["id"]
    kept_id = stack.client.post(
        f"/volume/v3/{project}/volumes", json={"volume": {"size": 1}}, headers=h
    ).json["volume"]["id"]
    server_id = _server(stack)
    for vid in (volume_id, kept_id):
        stack.finish(f"volume-{vid}-create")
    url = f"{SERVERS}/{server_id}/os-volume_attachments"
    for version, spec in (
        ("2.48", {"volumeId": volume_id, "tag": "disk"}),
        ("2.78", {"volumeId": volume_id, "delete_on_termination": True}),
        ("2.79", {"volumeId": volume_id, "delete_on_termination": "yes"}),
        ("2.79", {"volumeId": volume_id, "tag": "a,b"}),
        ("2.79", {"volumeId": volume_id, "device": "vdb; rm"}),
    ):
        r = stack.client.post(url, json={"volumeAttachment": spec}, headers=_h(stack, version))
        assert r.status_code == 400, (version, spec, r.json)
    body = {
        "volumeAttachment": {"volumeId": volume_id, "tag": "disk", "delete_on_termination": True}
    }
    attached = stack.client.post(url, json=body, headers=h)
    assert attached.status_code == 200, attached.json
    view = attached.json["volumeAttachment"]
    assert view["tag"] == "disk" and view["delete_on_termination"] is True
    kept = {"volumeAttachment": {"volumeId": kept_id}}
    assert stack.client.post(url, json=kept, headers=_h(stack, "2.70")).status_code == 200
    listed = stack.client.get(url, headers=h).json["volumeAttachments"]
    assert {(a["volumeId"], a["tag"], a["delete_on_termination"]) for a in listed} == {
        (volume_id, "disk", True),
        (kept_id, None, False),
    }
    old = stack.client.get(f"{url}/{volume_id}", headers=_h(stack, "2.69")).json
    assert set(old["volumeAttachment"]) == {"id", "serverId", "volumeId", "device"}
    stack.client.delete(f"{SERVERS}/{server_id}", headers=h)
    stack.finish(server_workflow_id(server_id, "delete"))
    gone = stack.client.get(f"/volume/v3/{project}/volumes/{volume_id}", headers=h)
    assert gone.status_code == 404
    left = stack.client.get(f"/volume/v3/{project}/volumes/{kept_id}", headers=h)
    assert left.json["volume"]["status"] == "available"


def test_list_filters_by_version(stack: Stack) -> None:
    first = _server(stack)
    second = _server(stack)
    h = _h(stack, "2.79")
    bogus = stack.client.get(SERVERS, query_string={"status": "bogus"}, headers=_h(stack, "2.37"))
    assert bogus.status_code == 200 and bogus.json["servers"] == []
    assert stack.client.get(SERVERS, query_string={"status": "bogus"}, headers=h).status_code == 400
    unknown = {"flavor_ref": "1"}
    assert (
        stack.client.get(SERVERS, query_string=unknown, headers=_h(stack, "2.74")).status_code
        == 200
    )
    assert stack.client.get(SERVERS, query_string=unknown, headers=h).status_code == 400
    assert (
        stack.client.get(SERVERS, query_string={"_x": "1"}, headers=_h(stack, "2.1")).status_code
        == 400
    )
    for bad in (
        {"changes-since": "yesterday"},
        {"changes-before": "2020-13-01"},
        {"changes-since": "2030-01-01T00:00:00Z", "changes-before": "2020-01-01T00:00:00Z"},
        {"locked": "maybe"},
    ):
        assert stack.client.get(SERVERS, query_string=bad, headers=h).status_code == 400, bad
    # locked (2.73) and changes-since, which also lists deleted servers.
    lock = {"lock": {"locked_reason": "maintenance"}}
    assert stack.client.post(f"{SERVERS}/{first}/action", json=lock, headers=h).status_code == 202
    locked = stack.client.get(SERVERS, query_string={"locked": "true"}, headers=h).json
    assert [s["id"] for s in locked["servers"]] == [first]
    unlocked = stack.client.get(SERVERS, query_string={"locked": "false"}, headers=h).json
    assert [s["id"] for s in unlocked["servers"]] == [second]
    early = {"lock": {"locked_reason": "x"}}
    refused = stack.client.post(f"{SERVERS}/{second}/action", json=early, headers=_h(stack, "2.72"))
    assert refused.status_code == 400
    assert stack.server(second).locked is False  # type: ignore[union-attr]
    since = stack.server(second).updated_at.isoformat()  # type: ignore[union-attr]
    stack.client.delete(f"{SERVERS}/{second}", headers=h)
    stack.finish(server_workflow_id(second, "delete"))
    changed = stack.client.get(
        f"{SERVERS}/detail", query_string={"changes-since": since}, headers=h
    )
    statuses = {s["id"]: s["status"] for s in changed.json["servers"]}
    assert statuses.get(second) == "DELETED"
    ahead = {"changes-before": "2000-01-01T00:00:00Z"}
    assert stack.client.get(SERVERS, query_string=ahead, headers=h).json["servers"] == []


def test_show_views_by_version(stack: Stack) -> None:
    server_id = _server(stack)
    lock = {"lock": {"locked_reason": "backup running"}}
    assert stack.client.post(f"{SERVERS}/{server_id}/action", json=lock, headers=_h(stack, "2.73"))
    old = stack.client.get(f"{SERVERS}/{server_id}", headers=_h(stack, "2.46")).json["server"]
    assert set(old["flavor"]) == {"id", "links"}
    assert "locked_reason" not in old and "server_groups" not in old
    new = stack.client.get(f"{SERVERS}/{server_id}", headers=_h(stack, "2.79")).json["server"]
    assert new["flavor"]["original_name"] and set(new["flavor"]) >= {
        "vcpus",
        "ram",
        "disk",
        "ephemeral",
        "swap",
    }
    assert new["locked"] is True and new["locked_reason"] == "backup running"
    assert new["server_groups"] == []
    (listed,) = stack.client.get(f"{SERVERS}/detail", headers=_h(stack, "2.79")).json["servers"]
    assert "server_groups" not in listed and listed["locked_reason"] == "backup running"
    updated = stack.client.put(
        f"{SERVERS}/{server_id}", json={"server": {"name": "vm2"}}, headers=_h(stack, "2.79")
    ).json["server"]
    assert updated["server_groups"] == [] and updated["name"] == "vm2"


def test_create_image_answers_with_its_id_from_2_45(stack: Stack) -> None:
    server_id = _server(stack)
    body = {"createImage": {"name": "snap"}}
    url = f"{SERVERS}/{server_id}/action"
    old = stack.client.post(url, json=body, headers=_h(stack, "2.44"))
    assert old.status_code == 202 and "/image/v2/images/" in old.headers["Location"]
    stack.finish(f"image-{old.headers['Location'].rsplit('/', 1)[1]}-from-server")
    new = stack.client.post(url, json=body, headers=_h(stack, "2.45"))
    assert new.status_code == 202 and "Location" not in new.headers
    with stack.db.session() as s:
        image = s.get(Image, new.json["image_id"])
        assert image is not None and image.name == "snap"


def test_rebuild_sets_key_and_user_data_from_their_versions(stack: Stack) -> None:
    h = _h(stack, "2.79")
    key = stack.client.post(
        "/compute/v2.1/os-keypairs", json={"keypair": {"name": "k1"}}, headers=h
    ).json["keypair"]
    server_id = _server(stack)
    url = f"{SERVERS}/{server_id}/action"
    image = stack.image_id()
    user_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    for version, extra in (
        ("2.53", {"key_name": "k1"}),
        ("2.56", {"user_data": user_data}),
        ("2.79", {"key_name": "nope"}),
        ("2.79", {"user_data": "not base64!"}),
        ("2.79", {"trusted_image_certificates": ["c"]}),
        ("2.57", {"personality": []}),
    ):
        body = {"rebuild": {"imageRef": image, **extra}}
        r = stack.client.post(url, json=body, headers=_h(stack, version))
        assert r.status_code == 400, (version, extra, r.json)
    row = stack.server(server_id)
    assert row is not None and row.key_name is None and row.status == "ACTIVE"
    body = {"rebuild": {"imageRef": image, "key_name": "k1", "user_data": user_data}}
    rebuilt = stack.client.post(url, json=body, headers=h)
    assert rebuilt.status_code == 202, rebuilt.json
    assert rebuilt.json["server"]["key_name"] == "k1"
    assert rebuilt.json["server"]["server_groups"] == []
    stack.finish(server_workflow_id(server_id, "rebuild"))
    row = stack.server(server_id)
    assert row is not None and row.key_data == key["public_key"] and row.user_data == user_data
    # key_name null rebuilds without a key.
    body = {"rebuild": {"imageRef": image, "key_name": None}}
    assert stack.client.post(url, json=body, headers=h).status_code == 202
    stack.finish(server_workflow_id(server_id, "rebuild"))
    row = stack.server(server_id)
    assert row is not None and row.key_name is None and row.key_data is None


@pytest.mark.one_database
def test_the_cli_pinned_at_2_79(served: Stack) -> None:
    """The unmodified CLI at 2.79: create with a tag and no network, lock with a reason,
    a volume attached with a tag and delete_on_termination, a server image (2.45's body),
    and the events of it all."""
    s = served
    v = "--os-compute-api-version 2.79"
    made = cli(
        s,
        "alice",
        f"{v} server create --flavor m1.tiny --image {s.image_id()} --no-network --tag web vm79",
    )
    server_id = made["id"]
    s.finish(server_workflow_id(server_id, "boot"))
    shown = cli(s, "alice", f"{v} server show vm79")
    assert shown["status"] == "ACTIVE" and shown["tags"] == ["web"]
    assert "m1.tiny" in str(shown["flavor"])
    ok(s, "alice", f"{v} server lock --reason maintenance vm79")
    shown = cli(s, "alice", f"{v} server show vm79")
    assert shown["locked"] is True and shown["locked_reason"] == "maintenance"
    assert [x["ID"] for x in cli(s, "alice", f"{v} server list --locked")] == [server_id]
    ok(s, "alice", f"{v} server unlock vm79")
    volume_id = cli(s, "alice", "volume create --size 1 v79")["id"]
    s.finish(f"volume-{volume_id}-create")
    ok(s, "alice", f"{v} server add volume --tag disk --enable-delete-on-termination vm79 v79")
    (attached,) = cli(s, "alice", f"{v} server volume list vm79")
    assert attached["Tag"] == "disk" and attached["Delete On Termination?"] is True
    image = cli(s, "alice", f"{v} server image create --name snap79 vm79")
    s.finish(f"image-{image['id']}-from-server")
    assert cli(s, "alice", f"image show {image['id']}")["status"] == "active"
    ok(s, "alice", f"{v} server remove volume vm79 v79")
    s.finish(f"volume-{volume_id}-detach")
    events = cli(s, "alice", f"{v} server event list vm79")
    assert {e["Action"] for e in events} == {
        "create",
        "lock",
        "unlock",
        "attach_volume",
        "createImage",
        "detach_volume",
    }
