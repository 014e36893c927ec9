"""The compute and volume version documents, as the real services answer them: Nova's
root is 200 with its versions; Cinder's root is 300 and its version show is a list."""

from __future__ import annotations

import pytest

from tests.support.stack import Stack


def test_compute_root_and_version(stack: Stack) -> None:
    root = stack.client.get("/compute/")
    assert root.status_code == 200
    (doc,) = root.json["versions"]
    assert doc["id"] == "v2.1" and doc["status"] == "CURRENT"
    assert doc["min_version"] == "2.1" and doc["version"] == "2.79"
    assert doc["links"][0]["href"].endswith("/compute/v2.1/")
    shown = stack.client.get("/compute/v2.1/")
    assert shown.status_code == 200 and shown.json["version"] == doc


def test_compute_versions_inside_the_range_answer_and_outside_are_406(stack: Stack) -> None:
    h = {"X-Auth-Token": stack.token("alice")}
    for version in ("2.1", "2.10", "2.26", "2.47", "2.55", "2.79"):
        pinned = {**h, "OpenStack-API-Version": f"compute {version}"}
        listed = stack.client.get("/compute/v2.1/servers", headers=pinned)
        assert listed.status_code == 200, (version, listed.json)
        assert listed.headers["OpenStack-API-Version"] == f"compute {version}"
    latest = stack.client.get(
        "/compute/v2.1/servers", headers={**h, "OpenStack-API-Version": "compute latest"}
    )
    assert latest.headers["OpenStack-API-Version"] == "compute 2.79"
    for version in ("2.80", "2.100", "3.0", "2.0", "x"):
        pinned = {**h, "OpenStack-API-Version": f"compute {version}"}
        refused = stack.client.get("/compute/v2.1/servers", headers=pinned)
        assert refused.status_code == 406, version
        assert "Minimum is 2.1 and maximum is 2.79" in refused.get_data(as_text=True), version


def test_volume_root_and_version(stack: Stack) -> None:
    root = stack.client.get("/volume/")
    assert root.status_code == 300
    (doc,) = root.json["versions"]
    assert doc["id"] == "v3.0" and doc["min_version"] == "3.0" and doc["version"] == "3.59"
    shown = stack.client.get("/volume/v3/")
    assert shown.status_code == 200 and shown.json == {"versions": [doc]}


def test_empty_catalogs_the_dashboards_list(stack: Stack) -> None:
    """Nimbus has no metadata definitions and no volume transfers; the lists say so in the
    real services' shapes, and still need a token."""
    h = {"X-Auth-Token": stack.token("alice")}
    project = stack.token_info(h["X-Auth-Token"])["project"]["id"]
    namespaces = stack.client.get("/image/v2/metadefs/namespaces", headers=h)
    assert namespaces.status_code == 200 and namespaces.json["namespaces"] == []
    types = stack.client.get("/image/v2/metadefs/resource_types", headers=h)
    assert types.json == {"resource_types": []}
    for path in ("os-volume-transfer", "os-volume-transfer/detail", "volume-transfers/detail"):
        listed = stack.client.get(f"/volume/v3/{project}/{path}", headers=h)
        assert listed.status_code == 200 and listed.json == {"transfers": []}, path
    assert stack.client.get("/image/v2/metadefs/namespaces").status_code == 401
    assert stack.client.get(f"/volume/v3/{project}/os-volume-transfer").status_code == 401


@pytest.mark.parametrize(
    "path, asked",
    [
        ("/compute/v2.1/servers", {"OpenStack-API-Version": "compute 9.9"}),
        ("/compute/v2.1/servers", {"X-OpenStack-Nova-API-Version": "not a version"}),
        ("/volume/v3/{project}/volumes", {"OpenStack-API-Version": "volume 9.9"}),
    ],
)
def test_without_a_token_any_microversion_is_401(
    stack: Stack, path: str, asked: dict[str, str]
) -> None:
    """The token is checked before the version, as keystonemiddleware runs before Nova's
    and Cinder's version handling: an anonymous caller learns nothing from a 406."""
    project = stack.token_info(stack.token("alice"))["project"]["id"]
    response = stack.client.get(path.format(project=project), headers=asked)
    assert response.status_code == 401
    h = {**asked, "X-Auth-Token": stack.token("alice")}
    assert stack.client.get(path.format(project=project), headers=h).status_code == 406
