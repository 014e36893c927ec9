"""Bad input to the PaaS API: a clear error with the right status, and nothing changed."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.support.paas import STATIC_SITE, h, package_bytes, rows
from tests.support.stack import Stack


def create(stack: Stack, body: dict[str, Any], user: str = "alice") -> Any:
    return stack.client.post("/paas/v1/apps", json={"app": body}, headers=h(stack, user))


def message(response: Any) -> str:
    return str(response.json["error"]["message"])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "web", "instanses": 2}, "unknown key 'instanses'"),
        ({"name": "web", "instances": "two"}, "'instances'"),
        ({"name": "web", "memory": "lots"}, "'memory'"),
        ({"name": "Web!"}, "name"),
        ({"name": "web", "env": {"PORT": "1"}}, "PORT"),
        ({"name": "web", "health-check-type": "telepathy"}, "health-check-type"),
        ({"name": "web", "routes": [{"route": "not a host"}]}, "route"),
    ],
)
def test_a_bad_app_is_refused_naming_what_is_wrong(
    stack: Stack, body: dict[str, Any], says: str
) -> None:
    before = rows(stack)
    response = create(stack, body)
    assert response.status_code == 400, response.json
    assert says in message(response)
    assert rows(stack) == before


def test_a_duplicate_app_name_is_a_conflict(stack: Stack) -> None:
    assert create(stack, {"name": "web"}).status_code == 201
    before = rows(stack)
    response = create(stack, {"name": "web"})
    assert response.status_code == 409 and "already exists" in message(response)
    assert rows(stack) == before


def test_a_route_another_app_holds_is_a_conflict(stack: Stack) -> None:
    taken = {"name": "one", "routes": [{"route": "shop.apps.localhost"}]}
    assert create(stack, taken).status_code == 201
    before = rows(stack)
    response = create(stack, {"name": "two", "routes": [{"route": "shop.apps.localhost"}]}, "bob")
    assert response.status_code == 409
    assert "shop.apps.localhost is already taken" in message(response)
    assert rows(stack) == before


def _upload(stack: Stack, data: bytes, sha: str | None = None) -> Any:
    sha = sha or hashlib.sha256(data).hexdigest()
    return stack.client.put(
        f"/paas/v1/packages/{sha}",
        data=data,
        content_type="application/octet-stream",
        headers=h(stack),
    )


def test_a_package_whose_content_is_not_its_name_is_refused(stack: Stack) -> None:
    before = rows(stack)
    response = _upload(stack, package_bytes(STATIC_SITE), "0" * 64)
    assert response.status_code == 400 and "not 0000" in message(response)
    assert _upload(stack, b"x", "not-a-digest").status_code == 400
    assert rows(stack) == before
    assert list((stack.settings.paas_dir / "packages").glob("*")) == []


def test_a_push_beyond_quota_fails_before_staging_naming_the_quota(stack: Stack) -> None:
    admin = h(stack, "admin")
    demo = stack.token_info(stack.token("alice"))["project"]["id"]
    quota = {"quota_set": {"instances": 2}}
    assert (
        stack.client.put(
            f"/compute/v2.1/os-quota-sets/{demo}", json=quota, headers=admin
        ).status_code
        == 200
    )
    app = create(stack, {"name": "big", "instances": 3}).json["app"]
    sha = hashlib.sha256(package_bytes(STATIC_SITE)).hexdigest()
    assert _upload(stack, package_bytes(STATIC_SITE)).status_code == 201
    before = rows(stack)
    response = stack.client.post(
        f"/paas/v1/apps/{app['id']}/builds", json={"package": sha}, headers=h(stack)
    )
    assert response.status_code == 403
    assert "Quota exceeded for instances: Requested 3, but already used 0 of 2" in message(response)
    assert rows(stack) == before


def test_a_reader_may_look_but_not_push(stack: Stack) -> None:
    app = create(stack, {"name": "web"}).json["app"]
    reader = h(stack, "rita")
    assert stack.client.get(f"/paas/v1/apps/{app['id']}", headers=reader).status_code == 200
    before = rows(stack)
    assert create(stack, {"name": "mine"}, "rita").status_code == 403
    scale = stack.client.post(
        f"/paas/v1/apps/{app['id']}/actions/scale", json={"instances": 2}, headers=reader
    )
    assert scale.status_code == 403
    assert rows(stack) == before


def test_another_projects_app_is_not_found(stack: Stack) -> None:
    app = create(stack, {"name": "web"}).json["app"]
    bob = h(stack, "bob")
    for method, path in (
        ("GET", f"/paas/v1/apps/{app['id']}"),
        ("GET", "/paas/v1/apps/web"),
        ("DELETE", f"/paas/v1/apps/{app['id']}"),
        ("GET", f"/paas/v1/apps/{app['id']}/logs"),
    ):
        assert stack.client.open(path, method=method, headers=bob).status_code == 404, path
    assert stack.client.get("/paas/v1/apps", headers=bob).json["apps"] == []


def test_scale_takes_a_whole_number_of_instances(stack: Stack) -> None:
    app = create(stack, {"name": "web"}).json["app"]
    for bad in (-1, 101, "3", True, None):
        response = stack.client.post(
            f"/paas/v1/apps/{app['id']}/actions/scale", json={"instances": bad}, headers=h(stack)
        )
        assert response.status_code == 400, bad
