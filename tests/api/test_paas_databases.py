"""PostgreSQL services over the fake drivers: a volume and a server of the project, made
through the cloud's APIs by the create workflow; the server learns its password from the
metadata service and bound apps their credentials; a server that says FAILED fails the
service and leaves nothing; the delete removes both; no history holds the password.

The fake guest prints nothing by itself: ``Guest`` plays the database server's script,
printing READY (or FAILED) once the service's volume is attached, as the real one does
(``tests/integration/test_postgresql_server.py`` boots the real image).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from activities.paas_databases import SERVICES_GROUP, backend_name
from api.metadata import NETWORK_HEADER, create_metadata_app
from nimbus.db import Server, Volume
from nimbus.db_paas import Instance, ServiceInstance
from paas import postgresql
from tests.api.test_paas_services import bind, create, make_app, wait_status
from tests.support.leaks import histories as run_histories
from tests.support.paas import Guest, h, stack
from tests.support.stack import Stack, import_default_image

__all__ = ["stack"]


@pytest.fixture
def guest(stack: Stack, image_file: Path) -> Iterator[Guest]:
    import_default_image(stack, image_file, postgresql.IMAGE_NAME)
    g = Guest(stack, postgresql.READY)
    g.start()
    yield g
    g.done.set()
    g.join(5)


def row(stack: Stack, name: str) -> ServiceInstance:
    with stack.db.session() as s:
        found = s.scalars(select(ServiceInstance).where(ServiceInstance.name == name)).one()
        s.expunge(found)
        return found


def vendor_data(stack: Stack, server: Server, network_id: str) -> Any:
    (addresses,) = get_server(stack, server.id)["addresses"].values()
    headers = {NETWORK_HEADER: network_id, "X-Forwarded-For": addresses[0]["addr"]}
    client = create_metadata_app(stack.settings, stack.db).test_client()
    answer = client.get("/openstack/latest/vendor_data2.json", headers=headers)
    assert answer.status_code == 200
    return json.loads(answer.data)


def get_server(stack: Stack, server_id: str) -> dict[str, Any]:
    response = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=h(stack))
    assert response.status_code == 200, response.json
    return dict(response.json["server"])


def live_volume(stack: Stack, volume_id: str) -> Volume | None:
    with stack.db.session() as s:
        volume = s.get(Volume, volume_id)
        return None if volume is None or volume.deleted_at is not None else volume


def test_the_offerings_list_postgresql_with_its_tags(stack: Stack) -> None:
    response = stack.client.get("/paas/v1/service_offerings", headers=h(stack, "rita"))
    offerings = {o["name"]: o for o in response.json["service_offerings"]}
    assert offerings["postgresql"]["tags"] == ["postgresql", "relational", "sql"]


def test_a_postgresql_service_is_a_server_and_a_volume_that_bound_apps_reach(
    stack: Stack, guest: Guest
) -> None:
    response = create(stack, {"name": "db", "offering": "postgresql"})
    assert response.status_code == 202, response.json
    service = wait_status(stack, "db", "AVAILABLE", timeout=60)
    sid, resources = service["id"], service["resources"]
    assert set(resources) == {"volume_id", "server_id", "host"}
    assert "credentials" not in service
    server = stack.server(resources["server_id"])
    assert server is not None and server.name == backend_name(sid)
    assert server.project_id == service["project_id"] and server.status == "ACTIVE"
    shown = get_server(stack, server.id)
    assert [g["name"] for g in shown["security_groups"]] == [SERVICES_GROUP]
    (network,) = shown["addresses"]
    assert shown["addresses"][network][0]["addr"] == resources["host"]
    volume = live_volume(stack, resources["volume_id"])
    assert volume is not None and volume.status == "in-use" and volume.size == 1
    password = row(stack, "db").credentials["password"]  # type: ignore[index]
    assert password not in (server.user_data or "")

    app = make_app(stack)
    assert bind(stack, app, "db").status_code == 201
    with stack.db.session() as s:
        s.add(Instance(id="i-0", app_id=app, index=0, release_id="r", server_id=server.id))
    network_id = _network_id(stack, network)
    # The server is an app instance here only to read what a bound app is told.
    vcap = json.loads(vendor_data(stack, server, network_id)["nimbus"]["VCAP_SERVICES"])
    (entry,) = vcap["postgresql"]
    creds = entry["credentials"]
    assert creds["uri"] == f"postgres://app:{password}@{resources['host']}:5432/app"
    assert (creds["hostname"], creds["port"], creds["name"]) == (resources["host"], 5432, "app")
    with stack.db.session() as s:
        s.query(Instance).delete()
    assert vendor_data(stack, server, network_id) == {"nimbus": {"POSTGRES_PASSWORD": password}}

    assert stack.client.delete(f"/paas/v1/apps/{app}/bindings/db", headers=h(stack))
    assert stack.client.delete("/paas/v1/services/db", headers=h(stack)).status_code == 202
    wait_status(stack, "db", "GONE", timeout=60)
    assert stack.server(server.id) is None or stack.server(server.id).deleted_at is not None
    assert live_volume(stack, resources["volume_id"]) is None
    assert not any(password in text for text in histories(stack, sid))


def _network_id(stack: Stack, name: str) -> str:
    response = stack.client.get(f"/networking/v2.0/networks?name={name}", headers=h(stack))
    (net,) = response.json["networks"]
    return str(net["id"])


def histories(stack: Stack, service_id: str) -> list[str]:
    """The service's histories with their payloads decoded (base64 in a history's JSON)."""
    query = f'NimbusResourceId="{service_id}"'
    texts = list(stack.bridge.run(lambda client: run_histories(client, query)).values())
    assert texts
    return texts


def test_a_stranger_naming_the_service_in_its_metadata_learns_nothing(
    stack: Stack, guest: Guest
) -> None:
    create(stack, {"name": "db", "offering": "postgresql"})
    sid = wait_status(stack, "db", "AVAILABLE", timeout=60)["id"]
    body = {
        "server": {
            "name": "sneaky",
            "flavorRef": "1",
            "imageRef": stack.image_id(),
            "networks": [{"uuid": _network_id(stack, "paas-apps")}],
            "metadata": {"nimbus-service-id": sid},
        }
    }
    response = stack.client.post("/compute/v2.1/servers", json=body, headers=h(stack))
    assert response.status_code == 202, response.json
    sneaky = stack.wait_server(response.json["server"]["id"], lambda s: s.status == "ACTIVE")
    assert sneaky is not None
    assert vendor_data(stack, sneaky, _network_id(stack, "paas-apps")) == {}


def test_a_server_that_says_failed_fails_the_service_and_leaves_nothing(
    stack: Stack, guest: Guest
) -> None:
    guest.line = f"{postgresql.FAILED} the data volume holds no nimbus-pgdata file system"
    create(stack, {"name": "db", "offering": "postgresql"})
    failed = wait_status(stack, "db", "FAILED", timeout=60)
    assert "holds no nimbus-pgdata file system" in failed["status_reason"]
    with stack.db.session() as s:
        servers = s.scalars(select(Server).where(Server.deleted_at.is_(None))).all()
        volumes = s.scalars(select(Volume).where(Volume.deleted_at.is_(None))).all()
    assert [v.name for v in volumes] == [] and [x.name for x in servers] == []
    assert row(stack, "db").credentials is None


def test_without_its_image_the_service_fails_with_the_reason(stack: Stack) -> None:
    create(stack, {"name": "db", "offering": "postgresql"})
    failed = wait_status(stack, "db", "FAILED", timeout=60)
    assert f"{postgresql.IMAGE_NAME} is not in the image service" in failed["status_reason"]
