"""SIGKILL the worker during volume-from-image, attach, detach and image upload: each
operation ends consistent once a worker is back."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import pytest
from sqlalchemy import select

from nimbus.db import Database, Volume, VolumeAttachment
from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e


class Api:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.client = cloud.client()
        self.volumes = f"/volume/v3/{self.client.project_id}/volumes"

    def call(self, method: str, path: str, **kw: Any) -> Any:
        return self.client.call(method, path, **kw)

    def volume(self, volume_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"{self.volumes}/{volume_id}").json()["volume"])

    def new_volume(self, **spec: Any) -> str:
        r = self.call("POST", self.volumes, json={"volume": {"size": 1, **spec}})
        assert r.status_code == 202, r.text
        return str(r.json()["volume"]["id"])

    def server(self, name: str) -> str:
        body = {
            "server": {
                "name": name,
                "flavorRef": "1",
                "imageRef": self.client.image_id("nimbus-guest"),
            }
        }
        sid = str(self.call("POST", "/compute/v2.1/servers", json=body).json()["server"]["id"])
        wait_for(
            lambda: (
                self.call("GET", f"/compute/v2.1/servers/{sid}").json()["server"]["status"]
                == "ACTIVE"
            ),
            120,
            "server ACTIVE",
        )
        return sid

    def settled(self, volume_id: str) -> str:
        statuses = ("available", "in-use", "error")
        return str(
            wait_for(
                lambda: (
                    self.volume(volume_id)["status"] in statuses
                    and self.volume(volume_id)["status"]
                ),
                180,
                "volume to settle",
            )
        )


def _restart(cloud: Cloud) -> None:
    cloud.kill_worker()
    result = cloud.nimbus("up")
    assert result.returncode == 0, result.stderr


def _assert_volumes_consistent(cloud: Cloud) -> None:
    """in-use <=> an attachment row <=> the disk in the domain; data <=> a live row."""
    with Database(cloud.settings.db_url).session() as s:
        live = {
            v.id: v.status for v in s.scalars(select(Volume).where(Volume.deleted_at.is_(None)))
        }
        attached = {a.volume_id: a for a in s.scalars(select(VolumeAttachment))}
    assert {f"volume-{v}" for v in live} == set(cloud.rbd_names("volumes"))
    for volume_id, status in live.items():
        assert status in ("available", "in-use"), (volume_id, status)
        assert (status == "in-use") == (volume_id in attached)
    for volume_id, row in attached.items():
        domain = cloud.settings.instance_prefix + row.server_id
        disks = cloud.hypervisor().disks(domain)
        assert any(d.source == f"volumes/volume-{volume_id}" for d in disks)


def test_kill_during_volume_from_image(cloud: Cloud) -> None:
    api = Api(cloud)
    volume_id = api.new_volume(imageRef=api.client.image_id("nimbus-guest"))
    _restart(cloud)
    assert api.settled(volume_id) == "available"
    _assert_volumes_consistent(cloud)


def test_kill_during_attach_and_during_detach(cloud: Cloud) -> None:
    api = Api(cloud)
    server_id = api.server("crash-attach")
    volume_id = api.new_volume()
    assert api.settled(volume_id) == "available"
    url = f"/compute/v2.1/servers/{server_id}/os-volume_attachments"
    body = {"volumeAttachment": {"volumeId": volume_id}}
    attach = threading.Thread(target=lambda: api.call("POST", url, json=body))
    attach.start()
    wait_for(lambda: api.volume(volume_id)["status"] != "available", 30, "attaching", interval=0.01)
    _restart(cloud)
    attach.join(180)
    assert api.settled(volume_id) in ("in-use", "available")
    _assert_volumes_consistent(cloud)
    if api.volume(volume_id)["status"] == "available":
        assert api.call("POST", url, json=body).status_code == 200

    assert api.call("DELETE", f"{url}/{volume_id}").status_code == 202
    _restart(cloud)
    wait_for(lambda: api.volume(volume_id)["status"] == "available", 180, "detached")
    _assert_volumes_consistent(cloud)
    api.call("DELETE", f"/compute/v2.1/servers/{server_id}")
    api.call("DELETE", f"{api.volumes}/{volume_id}")


@pytest.mark.long
def test_kill_during_image_upload(cloud: Cloud) -> None:
    api = Api(cloud)
    data = os.urandom(256 << 20)
    body = {"name": "crash-upload", "disk_format": "raw", "container_format": "bare"}
    image_id = api.call("POST", "/image/v2/images", json=body).json()["id"]
    upload = threading.Thread(
        target=lambda: api.call(
            "PUT",
            f"/image/v2/images/{image_id}/file",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
    )
    upload.start()
    wait_for(
        lambda: any(n.startswith(image_id) for n in cloud.rbd_names("images")),
        60,
        "the import to begin",
        interval=0.01,
    )
    _restart(cloud)
    upload.join(300)
    image = wait_for(
        lambda: (
            (i := api.call("GET", f"/image/v2/images/{image_id}").json())["status"]
            in ("active", "queued")
            and i
        ),
        180,
        "the image to settle",
    )
    names = [n for n in cloud.rbd_names("images") if n.startswith(image_id)]
    if image["status"] == "active":
        assert names == [image_id]
        download = api.call("GET", f"/image/v2/images/{image_id}/file").content
        assert hashlib.sha256(download).hexdigest() == hashlib.sha256(data).hexdigest()
    else:
        assert names == []
    assert not (cloud.settings.staging_dir / image_id).exists()
    assert api.call("DELETE", f"/image/v2/images/{image_id}").status_code == 204
