"""Services and bindings over the fake object store: create and delete run as workflows,
a bound service cannot be deleted, only an AVAILABLE one can be bound, bad input changes
nothing, and the credentials are in no workflow's history."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from activities.objectstore.fake import FakeObjectStoreAdmin
from api.metadata import NETWORK_HEADER, create_metadata_app
from nimbus.db_paas import Instance, ServiceInstance
from nimbus.errors import BackendUnavailable, Conflict
from paas.services import OBJECT_STORE_PORT, bucket_name, gateway_uid
from tests.support.leaks import histories
from tests.support.neutron import Neutron
from tests.support.paas import h, rows, stack
from tests.support.stack import Stack
from workflows.common import server_workflow_id

__all__ = ["stack"]


def admin(stack: Stack) -> FakeObjectStoreAdmin:
    store = stack.drivers.object_store
    assert isinstance(store, FakeObjectStoreAdmin)
    return store


def create(stack: Stack, body: dict[str, Any], user: str = "alice") -> Any:
    return stack.client.post("/paas/v1/services", json={"service": body}, headers=h(stack, user))


def show(stack: Stack, name: str, user: str = "alice") -> Any:
    return stack.client.get(f"/paas/v1/services/{name}", headers=h(stack, user))


def wait_status(stack: Stack, name: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = show(stack, name)
        if wanted == "GONE" and response.status_code == 404:
            return {}
        body = dict(response.json["service"])
        if body["status"] == wanted:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def make_app(stack: Stack, name: str = "web", user: str = "alice") -> str:
    response = stack.client.post(
        "/paas/v1/apps", json={"app": {"name": name}}, headers=h(stack, user)
    )
    assert response.status_code == 201, response.json
    return str(response.json["app"]["id"])


def bind(stack: Stack, app: str, service: str, user: str = "alice") -> Any:
    return stack.client.post(
        f"/paas/v1/apps/{app}/bindings",
        json={"binding": {"service": service}},
        headers=h(stack, user),
    )


def secret_of(stack: Stack, name: str) -> str:
    with stack.db.session() as s:
        row = s.scalars(select(ServiceInstance).where(ServiceInstance.name == name)).one()
        return str((row.credentials or {})["secret_access_key"])


def test_the_offerings_list_object_storage_and_postgresql(stack: Stack) -> None:
    response = stack.client.get("/paas/v1/service_offerings", headers=h(stack, "rita"))
    assert response.status_code == 200
    storage, database = response.json["service_offerings"]
    assert storage["name"] == "object-storage" and storage["plans"] == ["default"]
    assert database["name"] == "postgresql" and database["plans"] == ["default"]


def test_an_object_storage_service_is_a_bucket_with_a_key_pair_of_its_own(stack: Stack) -> None:
    response = create(stack, {"name": "photos", "offering": "object-storage"})
    assert response.status_code == 202, response.json
    made = response.json["service"]
    assert made["status"] == "CREATING" and made["plan"] == "default"
    service = wait_status(stack, "photos", "AVAILABLE")
    assert "credentials" not in service
    sid = service["id"]
    assert service["resources"] == {"user": gateway_uid(sid), "bucket": bucket_name(sid)}
    store = admin(stack)
    assert store.buckets == {bucket_name(sid): gateway_uid(sid)}
    (key,) = store.s3_keys(gateway_uid(sid)).items()
    assert key[1] == secret_of(stack, "photos")
    listed = stack.client.get("/paas/v1/services", headers=h(stack, "rita")).json["services"]
    assert [s["name"] for s in listed] == ["photos"]
    other = stack.client.get("/paas/v1/services", headers=h(stack, "bob")).json["services"]
    assert other == [] and show(stack, sid, "bob").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"name": "photos", "offering": "tape-drive"}, 400, "'offering' must be one of"),
        ({"name": "bad name!", "offering": "object-storage"}, 400, "'name'"),
        ({"offering": "object-storage"}, 400, "'name'"),
        ({"name": "p", "offering": "object-storage", "plan": "gold"}, 400, "no plan 'gold'"),
        ({"name": "p", "offering": "object-storage", "size": 3}, 400, "Unknown service field"),
        ({"name": "taken", "offering": "object-storage"}, 409, "already exists"),
    ],
)
def test_a_bad_service_is_refused_and_changes_nothing(
    stack: Stack, body: dict[str, Any], status: int, says: str
) -> None:
    assert create(stack, {"name": "taken", "offering": "object-storage"}).status_code == 202
    wait_status(stack, "taken", "AVAILABLE")
    before, buckets = rows(stack), dict(admin(stack).buckets)
    response = create(stack, body)
    assert response.status_code == status, response.json
    assert says in response.json["error"]["message"]
    assert rows(stack) == before and admin(stack).buckets == buckets


def test_a_reader_may_look_but_not_create(stack: Stack) -> None:
    response = create(stack, {"name": "photos", "offering": "object-storage"}, user="rita")
    assert response.status_code == 403
    assert rows(stack)["paas_services"] == []


def test_a_bound_service_cannot_be_deleted_until_unbound(stack: Stack) -> None:
    create(stack, {"name": "photos", "offering": "object-storage"})
    sid = wait_status(stack, "photos", "AVAILABLE")["id"]
    app = make_app(stack)
    made = bind(stack, app, "photos")
    assert made.status_code == 201, made.json
    assert made.json["binding"]["service_name"] == "photos"
    again = bind(stack, app, "photos")
    assert again.status_code == 409 and "already bound" in again.json["error"]["message"]
    assert show(stack, "photos").json["service"]["bound_apps"] == ["web"]

    before = rows(stack)
    refused = stack.client.delete("/paas/v1/services/photos", headers=h(stack))
    assert refused.status_code == 409
    assert "bound to web" in refused.json["error"]["message"]
    assert rows(stack) == before and admin(stack).buckets

    listed = stack.client.get(f"/paas/v1/apps/{app}/bindings", headers=h(stack, "rita"))
    assert [b["service_name"] for b in listed.json["bindings"]] == ["photos"]
    gone = stack.client.delete(f"/paas/v1/apps/{app}/bindings/photos", headers=h(stack))
    assert gone.status_code == 204
    missing = stack.client.delete(f"/paas/v1/apps/{app}/bindings/photos", headers=h(stack))
    assert missing.status_code == 404

    deleted = stack.client.delete("/paas/v1/services/photos", headers=h(stack))
    assert deleted.status_code == 202 and deleted.json["service"]["status"] == "DELETING"
    wait_status(stack, "photos", "GONE")
    assert admin(stack).buckets == {} and admin(stack).s3_keys(gateway_uid(sid)) == {}


def test_bindings_stay_within_the_project_and_need_an_available_service(stack: Stack) -> None:
    create(stack, {"name": "photos", "offering": "object-storage"})
    wait_status(stack, "photos", "AVAILABLE")
    bobs = make_app(stack, "shop", "bob")
    assert bind(stack, bobs, "photos", "bob").status_code == 404
    app = make_app(stack)
    assert bind(stack, app, "nothing").status_code == 404
    assert bind(stack, app, "photos", "rita").status_code == 403

    admin(stack).faults.fail("create_bucket", Conflict("bucket taken"), times=1)
    create(stack, {"name": "broken", "offering": "object-storage"})
    failed = wait_status(stack, "broken", "FAILED")
    assert "bucket taken" in failed["status_reason"]
    assert admin(stack).s3_keys(gateway_uid(failed["id"])) == {}  # undone
    refused = bind(stack, app, "broken")
    assert refused.status_code == 409 and "FAILED" in refused.json["error"]["message"]
    assert stack.client.delete("/paas/v1/services/broken", headers=h(stack)).status_code == 202
    wait_status(stack, "broken", "GONE")


def test_a_gateway_that_fails_for_a_while_only_delays_the_create(stack: Stack) -> None:
    admin(stack).faults.fail("add_s3_key", BackendUnavailable("gateway restarting"), times=2)
    create(stack, {"name": "photos", "offering": "object-storage"})
    service = wait_status(stack, "photos", "AVAILABLE", timeout=60)
    assert admin(stack).buckets == {bucket_name(service["id"]): gateway_uid(service["id"])}


def test_deleting_an_app_removes_its_bindings(stack: Stack) -> None:
    create(stack, {"name": "photos", "offering": "object-storage"})
    wait_status(stack, "photos", "AVAILABLE")
    app = make_app(stack)
    assert bind(stack, app, "photos").status_code == 201
    assert stack.client.delete(f"/paas/v1/apps/{app}", headers=h(stack)).status_code == 202
    deadline = time.monotonic() + 30
    while stack.client.get(f"/paas/v1/apps/{app}", headers=h(stack)).status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert show(stack, "photos").json["service"]["bound_apps"] == []
    assert stack.client.delete("/paas/v1/services/photos", headers=h(stack)).status_code == 202


def _boot(stack: Stack, name: str, network_id: str) -> dict[str, Any]:
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": stack.image_id()}}
    body["server"]["networks"] = [{"uuid": network_id}]
    response = stack.client.post("/compute/v2.1/servers", json=body, headers=h(stack))
    assert response.status_code == 202, response.json
    server_id = str(response.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    shown = stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=h(stack)).json
    return dict(shown["server"])


def _vendor_data(stack: Stack, network_id: str, server: dict[str, Any]) -> Any:
    (addresses,) = server["addresses"].values()
    headers = {NETWORK_HEADER: network_id, "X-Forwarded-For": addresses[0]["addr"]}
    client = create_metadata_app(stack.settings, stack.db).test_client()
    answer = client.get("/openstack/latest/vendor_data2.json", headers=headers)
    assert answer.status_code == 200
    return json.loads(answer.data)


def test_an_app_instance_gets_vcap_services_from_the_metadata_service_and_no_one_else(
    stack: Stack,
) -> None:
    create(stack, {"name": "photos", "offering": "object-storage"})
    service = wait_status(stack, "photos", "AVAILABLE")
    app = make_app(stack)
    assert bind(stack, app, "photos").status_code == 201
    neutron = Neutron(stack, "alice")
    net = neutron.network("net")
    neutron.subnet(net["id"], "10.0.0.0/24")
    instance, stranger = _boot(stack, "web-0", net["id"]), _boot(stack, "other", net["id"])
    with stack.db.session() as s:
        s.add(Instance(id="i-0", app_id=app, index=0, release_id="r", server_id=instance["id"]))

    vcap = json.loads(_vendor_data(stack, net["id"], instance)["nimbus"]["VCAP_SERVICES"])
    (entry,) = vcap["object-storage"]
    assert entry["name"] == "photos" and entry["instance_guid"] == service["id"]
    assert entry["tags"] == ["s3", "object-storage"]
    creds = entry["credentials"]
    assert creds["secret_access_key"] == secret_of(stack, "photos")
    assert creds["bucket"] == bucket_name(service["id"])
    assert creds["endpoint"] == f"http://169.254.169.254:{OBJECT_STORE_PORT}"
    assert _vendor_data(stack, net["id"], stranger) == {}


def test_no_workflow_history_holds_a_service_credential(stack: Stack) -> None:
    """What the Temporal web UI shows of every workflow these operations ran: the key
    pair is in none of it."""
    admin(stack).faults.fail("create_bucket", BackendUnavailable("gateway busy"), times=1)
    create(stack, {"name": "photos", "offering": "object-storage"})
    sid = wait_status(stack, "photos", "AVAILABLE")["id"]
    secret = secret_of(stack, "photos")
    with stack.db.session() as s:
        access = s.get(ServiceInstance, sid).credentials["access_key_id"]  # type: ignore[union-attr]
    app = make_app(stack)
    assert bind(stack, app, "photos").status_code == 201
    assert stack.client.delete(f"/paas/v1/apps/{app}/bindings/photos", headers=h(stack))
    assert stack.client.delete("/paas/v1/services/photos", headers=h(stack)).status_code == 202
    wait_status(stack, "photos", "GONE")

    # Decoded: a payload is base64 in a history's JSON, where a plain search misses it.
    texts = list(stack.bridge.run(lambda c: histories(c, f'NimbusResourceId="{sid}"')).values())
    assert len(texts) == 2  # the create and the delete
    assert all(sid in text for text in texts)
    assert not any(secret in text or access in text for text in texts)


def test_a_create_whose_workflow_cannot_start_leaves_a_failed_service_to_delete(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any, **kw: Any) -> Any:
        raise BackendUnavailable("the workflow service does not answer")

    with monkeypatch.context() as patch:
        patch.setattr(stack.bridge, "run", unreachable)
        response = create(stack, {"name": "photos", "offering": "object-storage"})
    assert response.status_code == 503, response.json
    shown = show(stack, "photos").json["service"]
    assert shown["status"] == "FAILED" and "does not answer" in shown["status_reason"]
    assert stack.client.delete("/paas/v1/services/photos", headers=h(stack)).status_code == 202
    wait_status(stack, "photos", "GONE")
    assert create(stack, {"name": "photos", "offering": "object-storage"}).status_code == 202
    wait_status(stack, "photos", "AVAILABLE")


def test_app_env_shows_vcap_services_to_members_only(stack: Stack) -> None:
    create(stack, {"name": "photos", "offering": "object-storage"})
    wait_status(stack, "photos", "AVAILABLE")
    app = make_app(stack)
    assert bind(stack, app, "photos").status_code == 201
    member = stack.client.get(f"/paas/v1/apps/{app}/env", headers=h(stack)).json
    (entry,) = member["system_env"]["VCAP_SERVICES"]["object-storage"]
    assert entry["credentials"]["secret_access_key"] == secret_of(stack, "photos")
    reader = stack.client.get(f"/paas/v1/apps/{app}/env", headers=h(stack, "rita")).json
    assert reader == {"env": {}}
