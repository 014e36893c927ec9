"""The dashboard's images and volume snapshots pages over the fake drivers, the real API
served over HTTP: an image uploaded as a browser does (multipart) arrives whole, a
refused upload leaves no record, a server's snapshot becomes an image, and volume
snapshots are made, cloned into volumes and deleted, each read back through the API."""

from __future__ import annotations

import hashlib
import io
import urllib.parse
from typing import Any

from flask.testing import FlaskClient

from nimbus.db import Image, VolumeSnapshot
from tests.api.test_dashboard_app import boot, csrf, sign_in, web
from tests.support.paas import stack
from tests.support.stack import Stack

__all__ = ["stack", "web"]

#: More than one of the dashboard's 1 MiB chunks, and more than Werkzeug keeps in memory.
DATA = bytes(range(256)) * 6000


class Api:
    """A seeded user's calls to the API, as any client makes them."""

    def __init__(self, stack: Stack, user: str) -> None:
        self.stack, self.h = stack, {"X-Auth-Token": stack.token(user)}
        self.project_id = str(stack.token_info(self.h["X-Auth-Token"])["project"]["id"])

    def get(self, path: str) -> Any:
        return self.stack.client.get(path, headers=self.h)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.stack.client.post(path, json=body, headers=self.h)

    def images(self, name: str) -> list[dict[str, Any]]:
        found = self.get(f"/image/v2/images?name={name}").json["images"]
        return list(found)

    def volume(self, name: str) -> str:
        made = self.post(
            f"/volume/v3/{self.project_id}/volumes", {"volume": {"size": 1, "name": name}}
        )
        assert made.status_code == 202, made.json
        volume_id = str(made.json["volume"]["id"])
        self.stack.finish(f"volume-{volume_id}-create")
        return volume_id

    def snapshot(self, volume_id: str) -> str:
        body = {"snapshot": {"volume_id": volume_id, "name": "theirs"}}
        made = self.post(f"/volume/v3/{self.project_id}/snapshots", body)
        assert made.status_code == 202, made.json
        snapshot_id = str(made.json["snapshot"]["id"])
        self.stack.finish(f"snapshot-{snapshot_id}-create")
        return snapshot_id


def upload(web: FlaskClient, name: str, data: bytes = DATA, **fields: str) -> Any:
    """Send the upload form as a browser does: multipart, with the file's bytes."""
    headers = {"HX-Request": "true"} if fields.pop("htmx", "") else {}
    form: dict[str, Any] = {
        "csrf": csrf(web),
        "name": name,
        "disk_format": "raw",
        "visibility": "private",
        **fields,
        "file": (io.BytesIO(data), "disk.img"),
    }
    return web.post("/images", data=form, content_type="multipart/form-data", headers=headers)


def said(response: Any, key: str = "Location") -> str:
    """The message or error a redirect carries in its query."""
    query = urllib.parse.urlsplit(response.headers[key]).query
    return " ".join(v for values in urllib.parse.parse_qs(query).values() for v in values)


def test_an_image_uploaded_from_the_page_is_active_with_its_size_and_checksum(
    web: FlaskClient, stack: Stack
) -> None:
    sign_in(web, "alice")
    sent = upload(web, "uploaded", htmx="yes")
    assert sent.status_code == 204 and sent.headers["HX-Redirect"].startswith("/images?")
    assert "uploaded: it is active" in said(sent, "HX-Redirect")
    (image,) = Api(stack, "alice").images("uploaded")
    assert image["status"] == "active" and image["size"] == len(DATA)
    assert image["checksum"] == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert image["visibility"] == "private" and image["disk_format"] == "raw"
    page = web.get(f"/images/{image['id']}").get_data(as_text=True)
    assert image["checksum"] in page and image["os_hash_value"] in page
    listed = web.get("/images").get_data(as_text=True)
    assert "uploaded" in listed and "this project" in listed
    assert f"/servers/launch?image={image['id']}" in listed


def test_a_refused_upload_leaves_no_image_and_shows_the_apis_message(
    web: FlaskClient, stack: Stack
) -> None:
    sign_in(web, "alice")
    api = Api(stack, "alice")
    vmdk = upload(web, "odd-format", disk_format="vmdk")
    assert vmdk.status_code == 302 and "Invalid value 'vmdk' for 'disk_format'" in said(vmdk)
    assert api.images("odd-format") == []
    not_qcow2 = upload(web, "not-qcow2", disk_format="qcow2")  # the import refuses the data
    assert not_qcow2.status_code == 302 and "error=" in not_qcow2.headers["Location"]
    assert api.images("not-qcow2") == []
    page = web.get(not_qcow2.headers["Location"]).get_data(as_text=True)
    assert 'role="alert"' in page and said(not_qcow2).split(" (")[0][:40] in page
    assert "the image data is raw, not qcow2" in page and "staging" not in page
    with stack.db.session() as s:
        assert not s.query(Image).filter_by(name="not-qcow2", deleted_at=None).count()


def test_an_owned_image_is_deleted_from_the_page(web: FlaskClient, stack: Stack) -> None:
    sign_in(web, "alice")
    upload(web, "short-lived")
    (image,) = Api(stack, "alice").images("short-lived")
    shown = web.get(f"/images/{image['id']}").get_data(as_text=True)
    assert f"/images/{image['id']}/delete" in shown
    gone = web.post(f"/images/{image['id']}/delete", data={"csrf": csrf(web)})
    assert gone.status_code == 302 and "Image deleted." in said(gone)
    assert Api(stack, "alice").get(f"/image/v2/images/{image['id']}").status_code == 404
    public = web.get("/images").get_data(as_text=True)
    assert f"/images/{stack.image_id()}/delete" not in public  # the admin's, not ours


def test_a_reader_sees_no_upload_or_delete_form_and_may_not_upload(
    web: FlaskClient, stack: Stack
) -> None:
    sign_in(web, "alice")
    upload(web, "members-only")
    (image,) = Api(stack, "alice").images("members-only")
    web.post("/logout", data={"csrf": csrf(web)})
    sign_in(web, "rita")
    listed = web.get("/images").get_data(as_text=True)
    assert "members-only" in listed and 'id="image-upload"' not in listed
    assert "/delete" not in listed and "Launch" not in listed
    shown = web.get(f"/images/{image['id']}").get_data(as_text=True)
    assert image["checksum"] in shown and "/delete" not in shown
    refused = upload(web, "by-a-reader")
    assert refused.status_code == 302 and "error=" in refused.headers["Location"]
    assert Api(stack, "alice").images("by-a-reader") == []


def test_the_images_list_polls_while_an_image_is_saving(web: FlaskClient, stack: Stack) -> None:
    sign_in(web, "alice")
    upload(web, "moving")
    (image,) = Api(stack, "alice").images("moving")
    assert 'hx-get="/images/rows"' not in web.get("/images").get_data(as_text=True)
    with stack.db.session() as s:
        row = s.get(Image, image["id"])
        assert row is not None
        row.status = "saving"
    rows = web.get("/images/rows").get_data(as_text=True)
    assert 'hx-get="/images/rows"' in rows and "saving" in rows
    assert f"/images/{image['id']}/delete" not in rows  # the API refuses it while saving


def test_a_servers_snapshot_from_its_page_becomes_an_image(web: FlaskClient, stack: Stack) -> None:
    server_id = boot(stack, "vm")
    sign_in(web, "alice")
    assert f"/servers/{server_id}/snapshot" in web.get(f"/servers/{server_id}").get_data(
        as_text=True
    )
    unnamed = web.post(f"/servers/{server_id}/snapshot", data={"csrf": csrf(web), "name": ""})
    assert unnamed.headers["Location"].startswith(f"/servers/{server_id}?error=")
    made = web.post(f"/servers/{server_id}/snapshot", data={"csrf": csrf(web), "name": "vm-snap"})
    assert made.status_code == 302 and "Snapshot vm-snap" in said(made)
    (image,) = Api(stack, "alice").images("vm-snap")
    assert image["instance_uuid"] == server_id
    stack.finish(f"image-{image['id']}-from-server")
    (image,) = Api(stack, "alice").images("vm-snap")
    assert image["status"] == "active"
    web.post("/logout", data={"csrf": csrf(web)})
    sign_in(web, "rita")
    page = web.get(f"/servers/{server_id}").get_data(as_text=True)
    assert "vm" in page and f"/servers/{server_id}/snapshot" not in page


def test_a_volume_snapshot_is_made_cloned_into_a_volume_and_deleted_from_the_pages(
    web: FlaskClient, stack: Stack
) -> None:
    api = Api(stack, "alice")
    base = f"/volume/v3/{api.project_id}"
    volume_id = api.volume("data")
    sign_in(web, "alice")
    made = web.post("/snapshots", data={"csrf": csrf(web), "volume_id": volume_id, "name": "s1"})
    assert made.status_code == 302 and made.headers["Location"] == "/snapshots"
    (snap,) = api.get(f"{base}/snapshots?name=s1").json["snapshots"]
    assert snap["volume_id"] == volume_id
    stack.finish(f"snapshot-{snap['id']}-create")
    listed = web.get("/snapshots").get_data(as_text=True)
    assert "s1" in listed and "data" in listed and "available" in listed

    form = {"csrf": csrf(web), "name": "restored", "size": "2"}
    cloned = web.post(f"/snapshots/{snap['id']}/volume", data=form)
    assert cloned.status_code == 302 and cloned.headers["Location"] == "/volumes"
    (volume,) = [
        v for v in api.get(f"{base}/volumes/detail").json["volumes"] if v["name"] == "restored"
    ]
    assert volume["snapshot_id"] == snap["id"] and volume["size"] == 2
    stack.finish(f"volume-{volume['id']}-create")
    assert "restored" in web.get("/volumes").get_data(as_text=True)

    refused = web.post(f"/snapshots/{snap['id']}/delete", data={"csrf": csrf(web)})
    assert "has volumes made from it" in said(refused)
    page = web.get(refused.headers["Location"]).get_data(as_text=True)
    assert 'id="snapshot-error"' in page and "has volumes made from it" in page
    assert stack.client.delete(f"{base}/volumes/{volume['id']}", headers=api.h).status_code == 202
    stack.finish(f"volume-{volume['id']}-delete")
    gone = web.post(f"/snapshots/{snap['id']}/delete", data={"csrf": csrf(web)})
    assert "Snapshot deleted." in said(gone)
    assert api.get(f"{base}/snapshots/{snap['id']}").status_code == 404


def test_the_snapshots_list_polls_while_one_is_creating(web: FlaskClient, stack: Stack) -> None:
    api = Api(stack, "alice")
    snapshot_id = api.snapshot(api.volume("data"))
    sign_in(web, "alice")
    assert 'hx-get="/snapshots/rows"' not in web.get("/snapshots").get_data(as_text=True)
    with stack.db.session() as s:
        row = s.get(VolumeSnapshot, snapshot_id)
        assert row is not None
        row.status = "creating"
    rows = web.get("/snapshots/rows").get_data(as_text=True)
    assert 'hx-get="/snapshots/rows"' in rows and "creating" in rows
    assert f"/snapshots/{snapshot_id}/delete" not in rows


def test_another_projects_private_image_and_snapshot_are_not_found(
    web: FlaskClient, stack: Stack
) -> None:
    bob = Api(stack, "bob")
    body = {"name": "bobs", "disk_format": "raw", "container_format": "bare"}
    image = bob.post("/image/v2/images", {**body, "visibility": "private"}).json
    snapshot_id = bob.snapshot(bob.volume("bobs-data"))
    sign_in(web, "alice")
    assert "bobs" not in web.get("/images").get_data(as_text=True)
    assert "theirs" not in web.get("/snapshots").get_data(as_text=True)
    assert web.get(f"/images/{image['id']}").status_code == 404
    assert web.get(f"/snapshots/{snapshot_id}").status_code == 404
    token = csrf(web)
    assert web.post(f"/images/{image['id']}/delete", data={"csrf": token}).status_code == 404
    assert web.post(f"/snapshots/{snapshot_id}/delete", data={"csrf": token}).status_code == 404
    cloned = web.post(f"/snapshots/{snapshot_id}/volume", data={"csrf": token})
    assert cloned.status_code == 404
    assert bob.get(f"/image/v2/images/{image['id']}").status_code == 200
    snap = bob.get(f"/volume/v3/{bob.project_id}/snapshots/{snapshot_id}").json["snapshot"]
    assert snap["status"] == "available"
