"""With the workflow engine unreachable, writes answer 503 and change nothing."""

from __future__ import annotations

from api import create_app
from api.bridge import TemporalBridge
from nimbus.db import Server, Volume
from tests.support.stack import Stack
from tests.support.temporal_server import free_port
from workflows.common import server_workflow_id


def test_create_and_delete_answer_503_and_change_nothing(stack: Stack) -> None:
    token = stack.token("alice")
    body = {"server": {"name": "vm1", "flavorRef": "1", "imageRef": stack.image_id()}}
    server_id = stack.client.post(
        "/compute/v2.1/servers", json=body, headers={"X-Auth-Token": token}
    ).json["server"]["id"]
    stack.finish(server_workflow_id(server_id, "boot"))

    dead = TemporalBridge(f"127.0.0.1:{free_port()}", "default", timeout=10)
    client = create_app(stack.settings, stack.db, dead, block_store=stack.store).test_client()
    h = {"X-Auth-Token": token}
    created = client.post("/compute/v2.1/servers", json=body, headers=h)
    assert (
        created.status_code == 503
        and "workflow engine" in created.json["serviceUnavailable"]["message"]
    )
    deleted = client.delete(f"/compute/v2.1/servers/{server_id}", headers=h)
    assert deleted.status_code == 503
    project = stack.client.get("/identity/v3/auth/tokens", headers={**h, "X-Subject-Token": token})
    volumes = f"/volume/v3/{project.json['token']['project']['id']}/volumes"
    assert client.post(volumes, json={"volume": {"size": 1}}, headers=h).status_code == 503
    with stack.db.session() as s:
        rows = s.query(Server).all()
        assert [(r.id, r.status, r.task_state) for r in rows] == [(server_id, "ACTIVE", None)]
        assert s.query(Volume).count() == 0
    dead.close()
