"""Cinder microversions 3.1 to 3.59: the shapes and rules each version changes."""

from __future__ import annotations

import pytest

from tests.support.cinder import Cinder
from tests.support.stack import Stack

LATEST = "3.59"


@pytest.fixture
def cinder(stack: Stack) -> Cinder:
    return Cinder(stack, version=LATEST)


def test_versions_inside_the_range_answer_and_outside_are_406(stack: Stack) -> None:
    for version in ("3.0", "3.27", "3.59"):
        r = Cinder(stack, version=version).get("volumes")
        assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == f"volume {version}"
    assert Cinder(stack, version="latest").get("volumes").headers["OpenStack-API-Version"] == (
        "volume 3.59"
    )
    for version in ("3.60", "2.0", "x"):
        refused = Cinder(stack, version=version).get("volumes")
        assert refused.status_code == 406, version
        assert "Minimum is 3.0 and maximum is 3.59" in refused.get_data(as_text=True)


def test_detail_fields_appear_at_their_versions(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    old = Cinder(stack, version="3.0").show(volume_id).json["volume"]
    assert not {"group_id", "shared_targets", "service_uuid", "provider_id"} & set(old)
    new = cinder.show(volume_id).json["volume"]
    assert new["group_id"] is None and new["shared_targets"] is False
    assert new["service_uuid"] and "provider_id" not in new  # admins only
    admin = Cinder(stack, "admin", version="3.21")
    url = f"{admin.base}/volumes/{volume_id}"
    seen = stack.client.get(url, headers=admin.h).json["volume"]
    assert "provider_id" in seen and "shared_targets" not in seen


def test_snapshot_user_id_from_3_41(stack: Stack, cinder: Cinder) -> None:
    snap_id = cinder.snapshot(cinder.available())
    user_id = stack.token_info(cinder.h["X-Auth-Token"])["user"]["id"]
    assert cinder.get(f"snapshots/{snap_id}").json["snapshot"]["user_id"] == user_id
    assert cinder.get("snapshots/detail").json["snapshots"][0]["user_id"] == user_id
    old = Cinder(stack, version="3.40").get(f"snapshots/{snap_id}").json["snapshot"]
    assert "user_id" not in old


def test_count_from_3_45_counts_every_match_not_the_page(stack: Stack, cinder: Cinder) -> None:
    source = cinder.available(name="a")
    cinder.available(name="b")
    cinder.snapshot(source)
    for path in ("volumes", "volumes/detail"):
        body = cinder.get(path, with_count="true", limit=1).json
        assert body["count"] == 2 and len(body["volumes"]) == 1
        assert "count" not in cinder.get(path).json
    assert cinder.get("snapshots/detail", with_count="1").json["count"] == 1
    assert "count" not in Cinder(stack, version="3.44").get("volumes", with_count="true").json
    assert cinder.get("volumes", with_count="maybe").status_code == 400


def test_bootable_filter_is_strict_from_3_2(stack: Stack, cinder: Cinder) -> None:
    blank = cinder.available()
    booted = cinder.available(imageRef=stack.image_id())

    def ids(c: Cinder, value: str) -> list[str]:
        return [v["id"] for v in c.get("volumes", bootable=value).json["volumes"]]

    assert ids(cinder, "true") == [booted] and ids(cinder, "0") == [blank]
    refused = cinder.get("volumes", bootable="maybe")
    assert refused.status_code == 400
    assert refused.json["badRequest"]["message"] == "Invalid input received: bootable=maybe"
    old = Cinder(stack, version="3.1")
    assert ids(old, "maybe") == [booted] and ids(old, "False") == [blank]


def test_like_metadata_glance_and_group_filters(stack: Stack, cinder: Cinder) -> None:
    alpha = cinder.available(name="Alpha", metadata={"tier": "gold"})
    image_vol = cinder.available(name="beta", imageRef=stack.image_id())

    def ids(**query: str) -> set[str]:
        listed = cinder.get("volumes/detail", **query)
        assert listed.status_code == 200, listed.json
        return {v["id"] for v in listed.json["volumes"]}

    assert ids(**{"name~": "alp"}) == {alpha}
    assert ids(metadata='{"tier": "gold"}') == {alpha}
    assert ids(metadata="{'tier': 'silver'}") == set()
    assert ids(glance_metadata=f'{{"image_id": "{stack.image_id()}"}}') == {image_vol}
    assert ids(group_id="g1") == set()
    assert cinder.get("volumes", metadata="[1").status_code == 400
    old = Cinder(stack, version="3.33")
    assert len(old.get("volumes", **{"name~": "alp"}).json["volumes"]) == 2  # ignored


@pytest.mark.parametrize(
    "body",
    [
        {"volume": {"size": 1, "user_id": "x"}},
        {"volume": {"size": 1, "status": "available"}},
        {"volume": {"size": 1}, "extra": 1},
        {"volume": {"size": 1, "group_id": "no-such-group"}},
    ],
)
def test_create_body_is_strict_from_3_53(stack: Stack, cinder: Cinder, body: dict) -> None:
    r = cinder.post("volumes", body)
    assert r.status_code in (400, 404), r.json
    assert cinder.get("volumes").json["volumes"] == []


def test_create_before_3_53_ignores_unknown_keys(stack: Stack) -> None:
    old = Cinder(stack, version="3.52")
    r = old.post("volumes", {"volume": {"size": 1, "attach_status": "detached"}})
    assert r.status_code == 202, r.json


def test_update_needs_a_valid_key_from_3_53(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available(name="kept")
    assert cinder.put(f"volumes/{volume_id}", {"volume": {}}).status_code == 400
    assert cinder.put(f"volumes/{volume_id}", {"volume": {"size": 2}}).status_code == 400
    assert cinder.show(volume_id).json["volume"]["name"] == "kept"
    old = Cinder(stack, version="3.52")
    assert old.put(f"volumes/{volume_id}", {"volume": {}}).status_code == 200
    renamed = cinder.put(f"volumes/{volume_id}", {"volume": {"display_description": "d"}})
    assert renamed.status_code == 200 and renamed.json["volume"]["description"] == "d"


def test_force_delete_is_for_admins_from_3_23(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    assert cinder.delete(f"volumes/{volume_id}", force="true").status_code == 403
    assert cinder.show(volume_id).json["volume"]["status"] == "available"
    old = Cinder(stack, version="3.22")
    assert old.delete(f"volumes/{volume_id}", force="true").status_code == 202  # not read


def test_admin_force_deletes(stack: Stack, cinder: Cinder) -> None:
    volume_id = cinder.available()
    admin = Cinder(stack, "admin", version=LATEST)
    url = f"{admin.base}/volumes/{volume_id}"
    r = stack.client.delete(url, query_string={"force": "true"}, headers=admin.h)
    assert r.status_code == 202


def test_types_filter_by_extra_specs_from_3_52(stack: Stack, cinder: Cinder) -> None:
    ceph = cinder.get("types", extra_specs='{"volume_backend_name": "ceph"}').json
    assert [t["name"] for t in ceph["volume_types"]] == ["ceph"]
    other = cinder.get("types", extra_specs="{'volume_backend_name': 'lvm'}").json
    assert other["volume_types"] == []
    old = Cinder(stack, version="3.51").get("types", extra_specs='{"x": "y"}').json
    assert len(old["volume_types"]) == 1
