"""A volume's metadata routes, and 3.15's ETag / If-Match."""

from __future__ import annotations

import pytest

from tests.support.cinder import Cinder
from tests.support.stack import Stack


@pytest.fixture
def cinder(stack: Stack) -> Cinder:
    return Cinder(stack, version="3.59")


def test_merge_replace_and_one_key_at_a_time(cinder: Cinder) -> None:
    volume_id = cinder.available(metadata={"a": "1"})
    path = f"volumes/{volume_id}/metadata"
    merged = cinder.post(path, {"metadata": {"b": "2"}})
    assert merged.status_code == 200 and merged.json["metadata"] == {"a": "1", "b": "2"}
    assert cinder.put(f"{path}/a", {"meta": {"a": "9"}}).json == {"meta": {"a": "9"}}
    assert cinder.get(f"{path}/a").json == {"meta": {"a": "9"}}
    assert cinder.delete(f"{path}/b").status_code == 200
    assert cinder.get(path).json == {"metadata": {"a": "9"}}
    assert cinder.put(path, {"metadata": {"c": "3"}}).json == {"metadata": {"c": "3"}}
    assert cinder.show(volume_id).json["volume"]["metadata"] == {"c": "3"}


def test_an_etag_from_3_15_guards_against_lost_updates(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available(metadata={"a": "1"})
    path = f"volumes/{volume_id}/metadata"
    tag = cinder.get(path).headers["ETag"]
    assert cinder.put(path, {"metadata": {"a": "2"}}, **{"If-Match": tag}).status_code == 200
    stale = cinder.put(path, {"metadata": {"a": "3"}}, **{"If-Match": tag})
    assert stale.status_code == 412
    stale_key = cinder.put(f"{path}/a", {"meta": {"a": "3"}}, **{"If-Match": tag})
    assert stale_key.status_code == 412
    assert cinder.get(path).json["metadata"] == {"a": "2"}
    old = Cinder(stack, version="3.14")
    assert "ETag" not in old.get(path).headers
    assert old.put(path, {"metadata": {"a": "4"}}, **{"If-Match": tag}).status_code == 200


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status"),
    [
        ("put", "/k", {"meta": {"other": "x"}}, 400),
        ("put", "/k", {"meta": {"k": "x", "j": "y"}}, 400),
        ("put", "/k", {"meta": {"k": 5}}, 400),
        ("put", "", {"metadata": ["k"]}, 400),
        ("post", "", {"metadata": {"": "x"}}, 400),
        ("post", "", {"nothing": {}}, 400),
        ("delete", "/missing", None, 404),
    ],
)
def test_bad_metadata_requests_change_nothing(
    cinder: Cinder, method: str, suffix: str, body: object, status: int
) -> None:
    volume_id = cinder.available(metadata={"k": "v"})
    path = f"volumes/{volume_id}/metadata{suffix}"
    r = cinder.delete(path) if method == "delete" else getattr(cinder, method)(path, body)
    assert r.status_code == status, r.json
    assert cinder.get(f"volumes/{volume_id}/metadata").json["metadata"] == {"k": "v"}


def test_others_and_readers_cannot_change_metadata(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available(metadata={"k": "v"})
    path = f"volumes/{volume_id}/metadata"
    bob = Cinder(stack, "bob", version="3.59")
    assert bob.get(path).status_code == 404
    assert bob.post(path, {"metadata": {"x": "y"}}).status_code == 404
    rita = Cinder(stack, "rita", version="3.59")
    assert rita.get(f"{path}/k").status_code == 200
    assert rita.put(f"{path}/k", {"meta": {"k": "w"}}).status_code == 403
    assert rita.delete(f"{path}/k").status_code == 403
    assert cinder.get(path).json["metadata"] == {"k": "v"}
    assert cinder.get("volumes/nope/metadata").status_code == 404
