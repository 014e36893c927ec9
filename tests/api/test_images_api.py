"""Glance v2 shape: create, staged upload into the block store, download, patch, delete."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from activities.storage.block import image_ref
from nimbus.errors import BackendUnavailable, InvalidSpec
from tests.support.stack import Stack

PATCH = "application/openstack-images-v2.1-json-patch"
DATA = b"nimbus" * 1000 + b"\0" * 8192 + b"tail"


def _h(stack: Stack, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user)}


def _create(stack: Stack, user: str = "alice", **fields: Any) -> Any:
    body = {"name": "img", "disk_format": "raw", "container_format": "bare", **fields}
    return stack.client.post("/image/v2/images", json=body, headers=_h(stack, user))


def _upload(stack: Stack, image_id: str, data: bytes = DATA, user: str = "alice") -> Any:
    return stack.client.put(
        f"/image/v2/images/{image_id}/file",
        data=data,
        content_type="application/octet-stream",
        headers=_h(stack, user),
    )


def _show(stack: Stack, image_id: str) -> Any:
    return stack.client.get(f"/image/v2/images/{image_id}", headers=_h(stack)).json


def test_create_upload_show_download(stack: Stack) -> None:
    created = _create(stack)
    assert created.status_code == 201 and created.json["status"] == "queued"
    image_id = created.json["id"]
    assert _upload(stack, image_id).status_code == 204
    image = _show(stack, image_id)
    assert image["status"] == "active" and image["size"] == len(DATA)
    assert image["checksum"] == hashlib.md5(DATA).hexdigest()
    assert image["os_hash_algo"] == "sha256"
    assert image["os_hash_value"] == hashlib.sha256(DATA).hexdigest()
    assert stack.store.exists(image_ref(image_id))
    download = stack.client.get(f"/image/v2/images/{image_id}/file", headers=_h(stack))
    assert download.status_code == 200 and download.data == DATA
    assert not (stack.settings.staging_dir / image_id).exists()


def test_qcow2_upload_is_stored_as_raw(stack: Stack, tmp_path: Path) -> None:
    raw, qcow = tmp_path / "d.raw", tmp_path / "d.qcow2"
    raw.write_bytes(DATA)
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow)], check=True
    )
    image_id = _create(stack, disk_format="qcow2").json["id"]
    assert _upload(stack, image_id, qcow.read_bytes()).status_code == 204
    image = _show(stack, image_id)
    assert image["status"] == "active" and image["disk_format"] == "raw"
    download = stack.client.get(f"/image/v2/images/{image_id}/file", headers=_h(stack)).data
    assert download.rstrip(b"\0").endswith(b"tail") and download.startswith(b"nimbus")
    assert image["checksum"] == hashlib.md5(download).hexdigest()


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"disk_format": "vmdk"}, 400),
        ({"container_format": "ovf"}, 400),
        ({"min_disk": -1}, 400),
        ({"min_ram": 2**31}, 400),
        ({"name": "x" * 256}, 400),
        ({"status": "active"}, 403),
        ({"visibility": "public"}, 403),
        ({"id": "not-a-uuid"}, 400),
    ],
)
def test_bad_create_is_refused_and_stores_nothing(
    stack: Stack, fields: dict[str, Any], status: int
) -> None:
    before = stack.client.get("/image/v2/images", headers=_h(stack)).json["images"]
    assert _create(stack, **fields).status_code == status
    assert stack.client.get("/image/v2/images", headers=_h(stack)).json["images"] == before


def test_upload_to_an_active_image_is_409_and_keeps_its_data(stack: Stack) -> None:
    image_id = _create(stack).json["id"]
    _upload(stack, image_id)
    assert _upload(stack, image_id, b"other").status_code == 409
    image = _show(stack, image_id)
    assert image["status"] == "active" and image["checksum"] == hashlib.md5(DATA).hexdigest()


def test_upload_needs_octet_stream_and_data(stack: Stack) -> None:
    image_id = _create(stack).json["id"]
    bad_type = stack.client.put(
        f"/image/v2/images/{image_id}/file", data=b"x", content_type="text/plain", headers=_h(stack)
    )
    assert bad_type.status_code == 415
    assert _upload(stack, image_id, b"").status_code == 400
    assert _show(stack, image_id)["status"] == "queued"


def test_qcow2_declared_but_raw_sent_fails_back_to_queued(stack: Stack) -> None:
    image_id = _create(stack, disk_format="qcow2").json["id"]
    assert _upload(stack, image_id, DATA).status_code == 400
    assert _show(stack, image_id)["status"] == "queued"
    assert not stack.store.exists(image_ref(image_id).image())


def test_failed_import_goes_back_to_queued_and_can_be_retried(stack: Stack) -> None:
    image_id = _create(stack).json["id"]
    stack.store.fail("import_file", InvalidSpec("corrupt data"))
    assert _upload(stack, image_id).status_code == 400
    assert _show(stack, image_id)["status"] == "queued"
    assert not (stack.settings.staging_dir / image_id).exists()
    stack.store.fail("import_file", BackendUnavailable("osd restarting"))
    assert _upload(stack, image_id).status_code == 204
    assert _show(stack, image_id)["status"] == "active"


def test_patch_changes_fields_and_refuses_read_only_ones(stack: Stack) -> None:
    image_id = _create(stack).json["id"]
    ops = [
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/os_distro", "value": "busybox"},
        {"op": "replace", "path": "/tags", "value": ["a", "b"]},
    ]
    url = f"/image/v2/images/{image_id}"
    patched = stack.client.patch(url, json=ops, content_type=PATCH, headers=_h(stack))
    assert patched.status_code == 200
    assert (patched.json["name"], patched.json["os_distro"], patched.json["tags"]) == (
        "renamed",
        "busybox",
        ["a", "b"],
    )
    read_only = [{"op": "replace", "path": "/status", "value": "active"}]
    assert (
        stack.client.patch(url, json=read_only, content_type=PATCH, headers=_h(stack)).status_code
        == 403
    )
    assert stack.client.patch(url, json=ops, headers=_h(stack)).status_code == 415
    assert _show(stack, image_id)["status"] == "queued"


def test_delete_refuses_protected_and_in_use_then_removes_data(stack: Stack) -> None:
    image_id = _create(stack, protected=True).json["id"]
    _upload(stack, image_id)
    url = f"/image/v2/images/{image_id}"
    assert stack.client.delete(url, headers=_h(stack)).status_code == 403
    unprotect = [{"op": "replace", "path": "/protected", "value": False}]
    stack.client.patch(url, json=unprotect, content_type=PATCH, headers=_h(stack))
    body = {"server": {"name": "user", "flavorRef": "1", "imageRef": image_id}}
    stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack))
    in_use = stack.client.delete(url, headers=_h(stack))
    assert in_use.status_code == 409 and "in use" in in_use.json["error"]["message"]
    assert _show(stack, image_id)["status"] == "active"


def test_delete_of_an_unused_image(stack: Stack) -> None:
    image_id = _create(stack).json["id"]
    _upload(stack, image_id)
    url = f"/image/v2/images/{image_id}"
    assert stack.client.delete(url, headers=_h(stack)).status_code == 204
    assert stack.client.get(url, headers=_h(stack)).status_code == 404
    assert not stack.store.exists(image_ref(image_id).image())


def test_other_projects_private_image_is_invisible(stack: Stack) -> None:
    image_id = _create(stack, visibility="private").json["id"]
    h = _h(stack, "bob")
    assert stack.client.get(f"/image/v2/images/{image_id}", headers=h).status_code == 404
    assert _upload(stack, image_id, user="bob").status_code == 404
