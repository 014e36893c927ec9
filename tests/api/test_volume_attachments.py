"""Cinder's attachments API (3.27, 3.44, 3.54) over the compute API's attachments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cinder import Cinder
from tests.support.stack import Stack


@pytest.fixture
def cinder(stack: Stack) -> Cinder:
    return Cinder(stack, version="3.59")


@pytest.fixture
def attached(cinder: Cinder) -> dict[str, str]:
    """A volume attached to a server through the compute API, and its attachment."""
    server_id, volume_id = cinder.server(), cinder.available()
    assert cinder.attach(server_id, volume_id).status_code == 200
    (row,) = cinder.get("attachments").json["attachments"]
    return {"server": server_id, "volume": volume_id, "attachment": row["id"]}


def _rows(cinder: Cinder) -> Any:
    return cinder.get("attachments/detail").json["attachments"]


def test_attachments_list_and_show_the_compute_attachments(
    cinder: Cinder, attached: dict[str, str]
) -> None:
    (brief,) = cinder.get("attachments").json["attachments"]
    assert brief == {
        "id": attached["attachment"],
        "status": "attached",
        "instance": attached["server"],
        "volume_id": attached["volume"],
    }
    shown = cinder.get(f"attachments/{attached['attachment']}").json["attachment"]
    assert shown["attach_mode"] == "rw" and shown["attached_at"]
    assert shown["connection_info"]["data"]["name"].endswith(attached["volume"])
    assert _rows(cinder) == [shown]
    assert cinder.get("attachments", volume_id="other").json["attachments"] == []
    by_server = cinder.get("attachments", instance_id=attached["server"], with_count="true")
    assert by_server.json["count"] == 1
    volume = cinder.show(attached["volume"]).json["volume"]
    assert volume["attachments"][0]["attachment_id"] == attached["attachment"]


def test_attachment_writes_are_refused_and_change_nothing(
    cinder: Cinder, attached: dict[str, str]
) -> None:
    before = _rows(cinder)
    other = cinder.available()
    body = {"attachment": {"volume_uuid": other, "instance_uuid": attached["server"]}}
    refused = cinder.post("attachments", body)
    assert refused.status_code == 400
    assert "os-volume_attachments" in refused.json["badRequest"]["message"]
    path = f"attachments/{attached['attachment']}"
    assert cinder.put(path, {"attachment": {"connector": {"host": "h"}}}).status_code == 400
    assert cinder.delete(path).status_code == 400
    assert cinder.show(other).json["volume"]["status"] == "available"
    assert cinder.show(attached["volume"]).json["volume"]["status"] == "in-use"
    assert _rows(cinder) == before


def test_complete_from_3_44_on_an_attached_attachment(
    stack: Stack, cinder: Cinder, attached: dict[str, str]
) -> None:
    path = f"attachments/{attached['attachment']}/action"
    assert cinder.post(path, {"os-complete": {}}).status_code == 204
    assert Cinder(stack, version="3.43").post(path, {"os-complete": {}}).status_code == 404
    assert cinder.post(path, {"os-other": {}}).status_code == 400
    assert cinder.post("attachments/nope/action", {"os-complete": {}}).status_code == 404


@pytest.mark.parametrize(
    ("version", "spec", "status"),
    [
        ("3.54", {"mode": "rx"}, 400),
        ("3.53", {"mode": "rw"}, 400),
        ("3.59", {"volume_uuid": "nope"}, 404),
        ("3.59", {"bogus": 1}, 400),
        ("3.26", {}, 404),
    ],
)
def test_bad_attachment_creates(
    stack: Stack, cinder: Cinder, version: str, spec: dict[str, Any], status: int
) -> None:
    volume_id = cinder.available()
    body = {"attachment": {"volume_uuid": volume_id, **spec}}
    r = Cinder(stack, version=version).post("attachments", body)
    assert r.status_code == status, r.json
    assert cinder.show(volume_id).json["volume"]["status"] == "available"


def test_others_and_readers(stack: Stack, cinder: Cinder, attached: dict[str, str]) -> None:
    path = f"attachments/{attached['attachment']}"
    bob = Cinder(stack, "bob", version="3.59")
    assert bob.get(path).status_code == 404
    assert bob.get("attachments").json["attachments"] == []
    assert bob.post(f"{path}/action", {"os-complete": {}}).status_code == 404
    rita = Cinder(stack, "rita", version="3.59")
    assert rita.get(path).status_code == 200
    assert rita.delete(path).status_code == 403
    assert Cinder(stack, version="3.26").get("attachments").status_code == 404
