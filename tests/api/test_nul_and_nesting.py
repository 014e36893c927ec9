"""What PostgreSQL cannot store, and bodies nested past what Python parses, are refused
before anything is written, alike on every database: a NUL character in the path is 404,
in the query or the body 400 (on PostgreSQL they were 500s); an image patch nested deeper
than the JSON decoder goes was a 500 (RecursionError), and is 400."""

from __future__ import annotations

import pytest

from tests.support.stack import Stack

NUL = "\x00"


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("GET", "/compute/v2.1/servers/a%00b", None, 404),
        ("DELETE", "/networking/v2.0/networks/a%00b", None, 404),
        ("GET", "/networking/v2.0/networks?name=a%00b", None, 400),
        ("GET", "/image/v2/images?name=a%00b", None, 400),
        ("POST", "/networking/v2.0/networks", {"network": {"name": f"a{NUL}b"}}, 400),
        ("POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": f"k{NUL}"}}, 400),
        ("POST", "/image/v2/images", {"name": "x", f"key{NUL}": "v"}, 400),
    ],
)
def test_a_nul_character_is_refused(
    stack: Stack, method: str, path: str, body: object, status: int
) -> None:
    token = stack.token("alice")
    response = stack.client.open(path, method=method, json=body, headers={"X-Auth-Token": token})
    assert response.status_code == status, response.json
    assert stack.client.open(path, method=method, json=body).status_code == 401


def _image(stack: Stack, token: str) -> str:
    body = {"name": "img", "disk_format": "raw", "container_format": "bare"}
    made = stack.client.post("/image/v2/images", json=body, headers={"X-Auth-Token": token})
    assert made.status_code == 201
    return str(made.json["id"])


@pytest.mark.parametrize("depth", [40, 5000])
def test_an_image_patch_nested_too_deep_is_400(stack: Stack, depth: int) -> None:
    token = stack.token("alice")
    image_id = _image(stack, token)
    value = "[" * depth + "]" * depth
    patch = f'[{{"op": "replace", "path": "/name", "value": {value}}}]'
    response = stack.client.patch(
        f"/image/v2/images/{image_id}",
        data=patch,
        content_type="application/openstack-images-v2.1-json-patch",
        headers={"X-Auth-Token": token},
    )
    assert response.status_code == 400, response.json
    shown = stack.client.get(f"/image/v2/images/{image_id}", headers={"X-Auth-Token": token})
    assert shown.json["name"] == "img"
