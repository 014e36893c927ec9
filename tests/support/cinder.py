"""A Cinder v3 client over the test stack: one user's token and project URL."""

from __future__ import annotations

import time
from typing import Any

from tests.support.stack import Stack
from workflows.common import server_workflow_id


class Cinder:
    def __init__(self, stack: Stack, user: str = "alice", version: str | None = None) -> None:
        self.stack = stack
        self.h = {"X-Auth-Token": stack.token(user)}
        if version:
            self.h["OpenStack-API-Version"] = f"volume {version}"
        project_id = stack.token_info(self.h["X-Auth-Token"])["project"]["id"]
        self.base = f"/volume/v3/{project_id}"

    def create(self, **spec: Any) -> Any:
        return self.stack.client.post(f"{self.base}/volumes", json={"volume": spec}, headers=self.h)

    def show(self, volume_id: str) -> Any:
        return self.stack.client.get(f"{self.base}/volumes/{volume_id}", headers=self.h)

    def wait(self, volume_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            volume = self.show(volume_id).json["volume"]
            if volume["status"] == status:
                return dict(volume)
            time.sleep(0.05)
        raise AssertionError(f"volume {volume_id} never became {status}: {volume}")

    def server(self) -> str:
        body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": self.stack.image_id()}}
        r = self.stack.client.post("/compute/v2.1/servers", json=body, headers=self.h)
        server_id = str(r.json["server"]["id"])
        self.stack.finish(server_workflow_id(server_id, "boot"))
        return server_id

    def attach(self, server_id: str, volume_id: str) -> Any:
        return self.stack.client.post(
            f"/compute/v2.1/servers/{server_id}/os-volume_attachments",
            json={"volumeAttachment": {"volumeId": volume_id, "device": None}},
            headers=self.h,
        )

    def get(self, path: str, **query: Any) -> Any:
        return self.stack.client.get(f"{self.base}/{path}", query_string=query, headers=self.h)

    def post(self, path: str, body: Any) -> Any:
        return self.stack.client.post(f"{self.base}/{path}", json=body, headers=self.h)

    def put(self, path: str, body: Any, **headers: str) -> Any:
        return self.stack.client.put(
            f"{self.base}/{path}", json=body, headers={**self.h, **headers}
        )

    def delete(self, path: str, **query: Any) -> Any:
        return self.stack.client.delete(f"{self.base}/{path}", query_string=query, headers=self.h)

    def available(self, **spec: Any) -> str:
        """A new volume, once available."""
        r = self.create(**{"size": 1, **spec})
        assert r.status_code == 202, r.json
        volume_id = str(r.json["volume"]["id"])
        self.wait(volume_id, "available")
        return volume_id

    def snapshot(self, volume_id: str, name: str = "s") -> str:
        """A new snapshot of the volume, once available."""
        r = self.post("snapshots", {"snapshot": {"volume_id": volume_id, "name": name}})
        assert r.status_code == 202, r.json
        snap_id = str(r.json["snapshot"]["id"])
        deadline = time.monotonic() + 20
        while self.get(f"snapshots/{snap_id}").json["snapshot"]["status"] != "available":
            assert time.monotonic() < deadline, "snapshot never became available"
            time.sleep(0.05)
        return snap_id
