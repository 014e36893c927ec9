"""Every API route, walked with the tokens of no one, of a reader, and of another project.

The victim is project ``demo``: its member alice owns one of every kind of resource. Then:
- without a token, every route but the public ones answers 401;
- demo's reader may read everything of demo's, and every write answers 403;
- bob, a member of project ``other``, gets 404 for every one of demo's resources (as
  OpenStack answers, so ids leak nothing), 403 for admin-only routes, and lists without
  demo's resources; his creates that name demo's resources are refused too.
Each walk ends by checking that no row of any table changed. A route the walk does not know
fails the test, so a new route cannot skip this check.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from api.context import public_endpoints
from nimbus.db import Base, VolumeAttachment
from nimbus.db_paas import Build, Deployment, ServiceBinding, ServiceInstance
from nimbus.db_volume import record_failure
from tests.support.neutron import Neutron
from tests.support.paas import STATIC_SITE, package_bytes
from tests.support.stack import Stack
from workflows.common import server_workflow_id

#: Routes anyone may call: version documents, authentication, metrics, the API's
#: description. Views mark themselves ``public``; this list is the one reviewed here.
PUBLIC = {
    "identity.versions",
    "identity.version",
    "identity.issue_token",
    "compute.versions",
    "compute.version",
    "image.versions",
    "volume.versions",
    "volume.version",
    "network.versions",
    "paas.version",
    "operations.version",
    "_metrics",
    "openapi.openapi_document",
}

#: Routes with behaviour of their own, covered by their own tests (token validation and
#: revocation act on the token in ``X-Subject-Token``).
OWN_TESTS = {"identity.validate_token", "identity.revoke_token"}

#: Path parameters that name no resource of the victim (shared or public objects).
SHARED_PARAMS = {
    "flavor_id": "1",
    "spec_key": "hw:cpu_policy",
    "alias": "router",
    "type_id": "ceph",
    "action": "restart",
    "hypervisor": "1",
    "service": "1",
    "aggregate_id": "1",
    "migration_id": "1",
}

#: Identity's objects that are everyone's (in every token's catalog, or the built-in roles).
SHARED_OBJECTS = ("domain_id", "role_id", "service_id", "endpoint_id", "region_id")

#: Path parameters naming a project (the victim's, except in Cinder's URL prefix).
PROJECT_PARAMS = {"project_id", "target_id"}

#: Tables whose rows legitimately change during a walk.
VOLATILE_TABLES = {"tokens", "audit_events", "hosts"}

#: Request bodies: valid enough that a route reaches its permission and ownership checks.
BODIES: dict[str, Any] = {
    "compute.update_server": {"server": {"name": "renamed"}},
    "compute.server_action": {"os-stop": None},
    "compute.attach_volume": {"volumeAttachment": {"volumeId": "{volume_id}"}},
    "compute.attach_interface": {"interfaceAttachment": {"port_id": "{port_id}"}},
    "compute.create_server": {
        "server": {"name": "x", "flavorRef": "1", "imageRef": "{image_id}"},
    },
    "image.update_image": [{"op": "replace", "path": "/name", "value": "renamed"}],
    "image.create_image": {"name": "x", "disk_format": "raw", "container_format": "bare"},
    "volume.update_volume": {"volume": {"name": "renamed"}},
    "volume.volume_action": {"os-extend": {"new_size": 5}},
    "volume.create_volume": {"volume": {"size": 1, "snapshot_id": "{snapshot_id}"}},
    "volume.create_snapshot": {"snapshot": {"volume_id": "{snapshot_volume_id}"}},
    "volume.create_attachment": {
        "attachment": {"volume_uuid": "{volume_id}", "instance_uuid": "{server_id}"}
    },
    "volume.update_attachment": {"attachment": {"connector": {"host": "h"}}},
    "volume.attachment_action": {"os-complete": {}},
    "volume.create_transfer": {"transfer": {"volume_id": "{volume_id}"}},
    "volume.accept_transfer": {"accept": {"auth_key": "not-the-key"}},
    "volume.merge_volume_metadata": {"metadata": {"victim-meta-key": "x"}},
    "volume.replace_volume_metadata": {"metadata": {"victim-meta-key": "x"}},
    "volume.set_volume_metadata_item": {"meta": {"victim-meta-key": "x"}},
    "network.update_network": {"network": {"name": "renamed"}},
    "network.update_subnet": {"subnet": {"name": "renamed"}},
    "network.update_port": {"port": {"name": "renamed"}},
    "network.update_router": {"router": {"name": "renamed"}},
    "network.update_floatingip": {"floatingip": {"port_id": None}},
    "network.update_group": {"security_group": {"name": "renamed"}},
    "network.add_interface": {"subnet_id": "{subnet_id}"},
    "network.remove_interface": {"subnet_id": "{subnet_id}"},
    "network.create_network": {"network": {"name": "x"}},
    "network.create_subnet": {
        "subnet": {"network_id": "{network_id}", "cidr": "10.9.0.0/24", "ip_version": 4}
    },
    "network.create_port": {"port": {"network_id": "{network_id}"}},
    "network.create_router": {"router": {"name": "x"}},
    "network.create_floatingip": {
        "floatingip": {"floating_network_id": "{external_id}", "port_id": "{port_id}"}
    },
    "network.create_group": {"security_group": {"name": "x"}},
    "network.create_rule": {
        "security_group_rule": {"security_group_id": "{group_id}", "direction": "ingress"}
    },
    "identity.create_ec2_credential": {"tenant_id": "{project_id}"},
    "identity.create_application_credential": {"application_credential": {"name": "x"}},
    "paas.create_app": {"app": {"name": "x"}},
    "paas.update_app": {"app": {"name": "demoapp", "instances": 2}},
    "paas.update_env": {"env": {"GREETING": "hi"}},
    "paas.create_build": {"package": "{digest}"},
    "paas.create_release": {"build_id": "{build_id}"},
    "paas.scale": {"instances": 2},
    "paas.rollback": {"revision": 1},
    "paas.create_service": {"service": {"name": "x", "offering": "object-storage"}},
    "paas.bind": {"binding": {"service": "{instance_id}"}},
    "paas.set_autoscaling": {
        "autoscaling": {"min_instances": 1, "max_instances": 2, "requests_per_second": 5}
    },
    "compute.create_keypair": {"keypair": {"name": "x"}},
    "compute.create_server_group": {"server_group": {"name": "x", "policies": ["affinity"]}},
    "compute.replace_server_metadata": {"metadata": {"victim-meta-key": "x"}},
    "compute.replace_server_tags": {"tags": ["t1"]},
    "compute.merge_server_metadata": {"metadata": {"victim-meta-key": "x"}},
    "compute.set_server_metadata_item": {"meta": {"victim-meta-key": "x"}},
}

#: Creates in the caller's own project are allowed; these name the victim's resources, and
#: what another project gets for them (Nova answers 400 for a network it cannot find).
OTHER_CREATES = {
    "compute.create_server": 400,
    "volume.create_volume": 404,
    "volume.create_snapshot": 404,
    "volume.create_attachment": 404,
    "volume.create_transfer": 404,
    # Any project may accept a transfer it was given the key of: a wrong key is 400.
    "volume.accept_transfer": 400,
    "network.create_subnet": 404,
    "network.create_port": 404,
    "network.create_floatingip": 404,
    "network.create_rule": 404,
}
#: Creates that name nothing of the victim's: bob may make these in his own project.
OWN_CREATES = {"image.create_image", "network.create_network", "network.create_router"}
OWN_CREATES |= {"network.create_group", "paas.create_app", "paas.upload_package"}
OWN_CREATES |= {"compute.create_keypair", "paas.create_service"}
OWN_CREATES |= {"compute.create_server_group"}

#: Reads of what belongs to a user, not to a project (key pairs): another user of the
#: same project, a reader included, finds nothing by that name.
USER_OWNED_READS = {"compute.show_keypair"}

#: Routes only an admin may call (403, as OpenStack answers, not 404).
ADMIN_ONLY = {"audit.list_events", "network.list_quotas"}
ADMIN_ONLY |= {"compute.create_flavor", "compute.update_flavor", "compute.delete_flavor"}
ADMIN_ONLY |= {"compute.create_flavor_extra_specs", "compute.update_flavor_extra_spec"}
ADMIN_ONLY |= {"compute.delete_flavor_extra_spec", "compute.list_flavor_access"}
ADMIN_ONLY |= {"compute.flavor_action"}
ADMIN_ONLY |= {
    "compute.list_hypervisors", "compute.list_hypervisors_detail", "compute.show_hypervisor"
}  # fmt: skip
ADMIN_ONLY |= {"compute.list_zones_detail", "compute.hypervisor_uptime"}
ADMIN_ONLY |= {"compute.list_services", "compute.update_service", "compute.delete_service"}
ADMIN_ONLY |= {"compute.list_aggregates", "compute.show_aggregate"}
ADMIN_ONLY |= {
    "compute.list_migrations", "compute.list_server_migrations", "compute.show_server_migration"
}  # fmt: skip

#: Identity routes any user may call about itself and its own token.
IDENTITY_OWN = {
    "identity.catalog",
    "identity.auth_projects",
    "identity.list_regions",
    "identity.show_region",
}
#: Quota reads a reader of the project may make about its own project.
QUOTA_READS = {
    "compute.show_limits",
    "compute.show_quota_set",
    "compute.show_quota_set_defaults",
    "compute.show_quota_set_detail",
    "network.show_quota",
    "network.show_quota_default",
    "network.show_quota_details",
    "volume.show_limits",
    "volume.show_quota_set",
    "volume.show_quota_set_defaults",
}
#: Quota reads that are about no project in particular, or the caller's own.
QUOTA_ANYONE = {
    "compute.show_limits",
    "volume.show_limits",
    "compute.show_quota_set_defaults",
    "network.show_quota_default",
    "volume.show_quota_set_defaults",
}


def _admin_or_403(call: Call, reader: bool) -> Any:
    """What a non-admin gets from identity and quota routes, which are about projects and
    users (demo and alice here), not about resources: 403 unless the route is the
    caller's own. None: not such a route."""
    if call.endpoint in ADMIN_ONLY:
        return _status(403)
    if call.rule.startswith("/identity"):
        if call.endpoint in IDENTITY_OWN:
            return _status(200)
        if reader and call.endpoint == "identity.show_project":
            return _status(200)  # the project its token is scoped to
        if call.endpoint == "identity.show_domain" and call.method == "GET":
            return _status(200)  # the domain of its token's project (both are in default)
        return _status(403)
    if call.endpoint in QUOTA_READS:
        return _status(200) if reader or call.endpoint in QUOTA_ANYONE else _status(403)
    if "quota" in call.endpoint:
        return _status(403)
    return None


@dataclass
class World:
    """Demo's resources, by path parameter name, and the ids a list must not leak."""

    ids: dict[str, str]
    demo_project: str
    other_project: str

    def secrets(self) -> set[str]:
        shared = set(SHARED_PARAMS.values()) | {self.ids["external_id"]}
        return {
            v
            for k, v in self.ids.items()
            if v not in shared and k != "tag" and k not in SHARED_OBJECTS
        }


def _finish_server(stack: Stack, token: str, image_id: str, port_id: str) -> str:
    body = {
        "server": {
            "name": "victim",
            "flavorRef": "1",
            "imageRef": image_id,
            "networks": [{"port": port_id}],  # its interface, for os-interface
            "metadata": {"victim-meta-key": "victim"},
        }
    }
    r = stack.client.post("/compute/v2.1/servers", json=body, headers={"X-Auth-Token": token})
    assert r.status_code == 202, r.json
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _volume(stack: Stack, base: str, h: dict[str, str], name: str) -> str:
    spec = {"size": 1, "name": name, "metadata": {"victim-meta-key": "victim"}}
    r = stack.client.post(f"{base}/volumes", json={"volume": spec}, headers=h)
    assert r.status_code == 202, r.json
    volume_id = str(r.json["volume"]["id"])
    _wait(stack, f"{base}/volumes/{volume_id}", h, "volume", "available")
    return volume_id


def _wait(stack: Stack, path: str, h: dict[str, str], key: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if stack.client.get(path, headers=h).json[key]["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never became {status}")


def build_world(stack: Stack) -> World:
    """One of every resource, owned by alice's project demo.

    First the host's first network reconcile (the worker starts it) must have closed:
    one still planning would plan the networks made here, late, and bump their DHCP
    generations after the caller took its rows to compare."""
    stack.wait_host_sync(since=0)
    admin, alice = Neutron(stack, "admin"), Neutron(stack, "alice")
    external = admin.network("public", **{"router:external": True})
    admin.subnet(external["id"], "172.24.4.0/24", enable_dhcp=False)
    h = alice.h
    image = stack.client.post(
        "/image/v2/images",
        json={"name": "private", "disk_format": "raw", "container_format": "bare"},
        headers=h,
    ).json
    upload = stack.client.put(
        f"/image/v2/images/{image['id']}/file",
        data=b"x" * 4096,
        content_type="application/octet-stream",
        headers=h,
    )
    assert upload.status_code == 204
    assert stack.client.put(f"/image/v2/images/{image['id']}/tags/t1", headers=h).status_code == 204
    network = alice.network("victim-net")
    subnet = alice.subnet(network["id"])
    port = alice.port(network["id"])
    router = alice.make("router", name="r", external_gateway_info={"network_id": external["id"]})
    assert alice.put(f"routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    fip = alice.make("floatingip", floating_network_id=external["id"], port_id=port["id"])
    group = alice.make("security_group", name="victim-sg")
    server_group = stack.client.post(
        "/compute/v2.1/os-server-groups",
        json={"server_group": {"name": "victim-group", "policies": ["anti-affinity"]}},
        headers=h,
    )
    assert server_group.status_code == 200, server_group.json
    rule = alice.make("security_group_rule", security_group_id=group["id"], direction="ingress")
    server_id = _finish_server(stack, h["X-Auth-Token"], stack.image_id(), port["id"])
    base = f"/volume/v3/{alice.project_id}"
    volume_id = _volume(stack, base, h, "attached")
    attach = stack.client.post(
        f"/compute/v2.1/servers/{server_id}/os-volume_attachments",
        json={"volumeAttachment": {"volumeId": volume_id}},
        headers=h,
    )
    assert attach.status_code == 200, attach.json
    _wait(stack, f"{base}/volumes/{volume_id}", h, "volume", "in-use")
    snapshot_volume = _volume(stack, base, h, "snapped")
    snap = stack.client.post(
        f"{base}/snapshots", json={"snapshot": {"volume_id": snapshot_volume}}, headers=h
    )
    assert snap.status_code == 202, snap.json
    snapshot_id = str(snap.json["snapshot"]["id"])
    _wait(stack, f"{base}/snapshots/{snapshot_id}", h, "snapshot", "available")
    user_id = str(stack.token_info(h["X-Auth-Token"])["user"]["id"])
    message = record_message(stack, alice.project_id, volume_id)
    ec2 = stack.client.post(
        f"/identity/v3/users/{user_id}/credentials/OS-EC2",
        json={"tenant_id": alice.project_id},
        headers=h,
    )
    assert ec2.status_code == 201, ec2.json
    app_cred = stack.client.post(
        f"/identity/v3/users/{user_id}/application_credentials",
        json={"application_credential": {"name": "victim-app"}},
        headers=h,
    )
    assert app_cred.status_code == 201, app_cred.json
    admin_h = admin.h
    spec = stack.client.post(
        f"/compute/v2.1/flavors/{SHARED_PARAMS['flavor_id']}/os-extra_specs",
        json={"extra_specs": {SHARED_PARAMS["spec_key"]: "shared"}},
        headers=admin_h,
    )
    assert spec.status_code == 200, spec.json
    shared = {
        "domain_id": "default",
        "role_id": _first(stack, "/identity/v3/roles?name=member", "roles", admin_h),
        "service_id": _first(stack, "/identity/v3/services", "services", admin_h),
        "endpoint_id": _first(stack, "/identity/v3/endpoints", "endpoints", admin_h),
        "region_id": _first(stack, "/identity/v3/regions", "regions", admin_h),
    }
    paas = _paas_app(stack, h)
    actions = stack.client.get(f"/compute/v2.1/servers/{server_id}/os-instance-actions", headers=h)
    assert actions.status_code == 200, actions.json
    request_id = actions.json["instanceActions"][0]["request_id"]
    tags = f"/compute/v2.1/servers/{server_id}/tags/t1"
    v226 = {**h, "OpenStack-API-Version": "compute 2.26"}
    assert stack.client.put(tags, headers=v226).status_code == 201
    key = stack.client.post(
        "/compute/v2.1/os-keypairs", json={"keypair": {"name": "victim-key"}}, headers=h
    )
    assert key.status_code == 200, key.json
    other = Neutron(stack, "bob")
    # Neutron makes a project's default group on its first look: let bob's exist already.
    assert other.get("security-groups").status_code == 200
    return World(
        ids={
            "server_id": server_id,
            "volume_id": volume_id,
            "snapshot_volume_id": snapshot_volume,
            "snapshot_id": snapshot_id,
            "image_id": str(image["id"]),
            "tag": "t1",
            "network_id": network["id"],
            "subnet_id": subnet["id"],
            "port_id": port["id"],
            "router_id": router["id"],
            "fip_id": fip["id"],
            "group_id": group["id"],
            "server_group_id": server_group.json["server_group"]["id"],
            "rule_id": rule["id"],
            "external_id": external["id"],
            "user_id": user_id,
            "access": ec2.json["credential"]["access"],
            "application_credential_id": app_cred.json["application_credential"]["id"],
            "project_id": alice.project_id,
            "keypair_name": "victim-key",
            "key": "victim-meta-key",
            "request_id": request_id,
            "workflow_id": server_workflow_id(server_id, "boot"),
            "message_id": message,
            "attachment_id": _attachment_of(stack, volume_id),
            "transfer_id": _transfer(stack, base, h),
            **paas,
            **shared,
        },
        demo_project=alice.project_id,
        other_project=other.project_id,
    )


def record_message(stack: Stack, project_id: str, volume_id: str) -> str:
    """A user message of demo's, as a failed volume operation leaves one."""
    with stack.db.session() as s:
        message = record_failure(s, "VOLUME", volume_id, project_id, "extending", None)
        assert message is not None
    return message.id


def _transfer(stack: Stack, base: str, h: dict[str, str]) -> str:
    """Demo's offer of a volume of its own to whoever has the key."""
    body = {"transfer": {"volume_id": _volume(stack, base, h, "offered")}}
    r = stack.client.post(f"{base}/volume-transfers", json=body, headers=h)
    assert r.status_code == 202, r.json
    return str(r.json["transfer"]["id"])


def _attachment_of(stack: Stack, volume_id: str) -> str:
    with stack.db.session() as s:
        row = s.scalars(select(VolumeAttachment).where(VolumeAttachment.volume_id == volume_id))
        return row.one().id


def _paas_app(stack: Stack, h: dict[str, str]) -> dict[str, str]:
    """Demo's app, a package of it and a (failed) build, without running any workflow."""
    app = stack.client.post("/paas/v1/apps", json={"app": {"name": "demoapp"}}, headers=h)
    assert app.status_code == 201, app.json
    data = package_bytes(STATIC_SITE)
    sha = hashlib.sha256(data).hexdigest()
    up = stack.client.put(
        f"/paas/v1/packages/{sha}", data=data, content_type="application/octet-stream", headers=h
    )
    assert up.status_code == 201, up.json
    build = Build(
        app_id=app.json["app"]["id"],
        project_id=app.json["app"]["project_id"],
        package_sha256=sha,
        host=stack.settings.host_name,
        state="FAILED",
    )
    deployment = Deployment(
        id=str(uuid.uuid4()),
        app_id=app.json["app"]["id"],
        release_id=str(uuid.uuid4()),
        revision=1,
        strategy="rolling",
        state="FAILED",
    )
    service = ServiceInstance(
        project_id=app.json["app"]["project_id"],
        name="demo-bucket",
        offering="object-storage",
        status="AVAILABLE",
    )
    with stack.db.session() as s:
        s.add(build)
        s.add(deployment)
        s.add(service)
        s.flush()
        s.add(ServiceBinding(app_id=app.json["app"]["id"], service_id=service.id))
    return {
        "app_id": app.json["app"]["id"],
        "digest": sha,
        "build_id": build.id,
        "deployment_id": deployment.id,
        "instance_id": service.id,
    }


def _first(stack: Stack, path: str, key: str, h: dict[str, str]) -> str:
    response = stack.client.get(path, headers=h)
    assert response.status_code == 200, response.json
    return str(response.json[key][0]["id"])


def _rows(stack: Stack) -> dict[str, list[str]]:
    """Every row of every table that a refused request must not touch."""
    out: dict[str, list[str]] = {}
    with stack.db.session() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in VOLATILE_TABLES:
                continue
            rows = s.execute(select(table)).all()
            out[table.name] = sorted(json.dumps(list(r), default=str) for r in rows)
    return out


@dataclass(frozen=True)
class Call:
    endpoint: str
    method: str
    rule: str

    @property
    def params(self) -> list[str]:
        return re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", self.rule)

    @property
    def names_a_resource(self) -> bool:
        return any(p not in SHARED_PARAMS and p not in PROJECT_PARAMS for p in self.params)


def calls(stack: Stack) -> Iterator[Call]:
    app = stack.client.application
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield Call(rule.endpoint, method, rule.rule)


def _fill(value: Any, world: World) -> Any:
    text = json.dumps(value)
    for key, v in world.ids.items():
        text = text.replace("{" + key + "}", v)
    return json.loads(text)


def _url(call: Call, world: World, project: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "project_id" and call.rule.startswith("/volume"):
            return project
        if name in PROJECT_PARAMS:
            return world.demo_project
        return SHARED_PARAMS.get(name) or world.ids[name]

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", sub, call.rule)


def _send(stack: Stack, call: Call, url: str, token: str | None, world: World) -> Any:
    headers = {"X-Auth-Token": token} if token else {}
    if url.startswith("/compute/"):
        headers["OpenStack-API-Version"] = "compute latest"  # routes added by microversions
    if url.startswith("/volume/"):
        headers["OpenStack-API-Version"] = "volume latest"
    body = _fill(BODIES.get(call.endpoint, {}), world)
    if call.endpoint in ("image.upload_image", "paas.upload_package"):
        return stack.client.put(
            url, data=b"y" * 16, content_type="application/octet-stream", headers=headers
        )
    if call.endpoint == "image.update_image":
        return stack.client.patch(
            url,
            data=json.dumps(body),
            content_type="application/openstack-images-v2.1-json-patch",
            headers=headers,
        )
    return stack.client.open(url, method=call.method, json=body, headers=headers)


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack and one world for the module: every test checks that it changed no row."""
    return module_stack


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    return build_world(stack)


def test_every_route_is_known_to_the_walk(stack: Stack) -> None:
    """A new route must say what it needs: a resource parameter this walk can fill."""
    known = set(SHARED_PARAMS) | PROJECT_PARAMS | {"snapshot_volume_id", "external_id"}
    known |= set(build_ids_for_params())
    unknown = {
        (c.rule, p)
        for c in calls(stack)
        if c.endpoint not in OWN_TESTS
        for p in c.params
        if p not in known
    }
    assert not unknown, f"routes the policy walk cannot fill in: {sorted(unknown)}"
    for name in list(BODIES) + list(OTHER_CREATES) + list(OWN_CREATES):
        assert name in {c.endpoint for c in calls(stack)}, f"{name} is no route"


def build_ids_for_params() -> list[str]:
    """The path parameters ``build_world`` fills (kept next to it, checked above)."""
    return [
        "server_id",
        "volume_id",
        "snapshot_id",
        "image_id",
        "tag",
        "network_id",
        "subnet_id",
        "port_id",
        "router_id",
        "fip_id",
        "group_id",
        "server_group_id",
        "rule_id",
        "user_id",
        "access",
        "application_credential_id",
        "app_id",
        "digest",
        "build_id",
        "deployment_id",
        "instance_id",
        "keypair_name",
        "key",
        "request_id",
        "workflow_id",
        "message_id",
        "attachment_id",
        "transfer_id",
        *SHARED_OBJECTS,
    ]


def _walk(stack: Stack, world: World, token: str | None, project: str, expect: Any) -> list[str]:
    """Send every call; return a line for each answer that is not what ``expect`` wants."""
    wrong = []
    for call in calls(stack):
        if call.endpoint in OWN_TESTS:
            continue
        wanted = expect(call)
        if wanted is None:
            continue
        response = _send(stack, call, _url(call, world, project), token, world)
        if not wanted(response):
            text = response.get_data(as_text=True)[:200]
            wrong.append(f"{call.method} {call.rule}: {response.status_code} {text}")
    return wrong


def _status(*codes: int) -> Any:
    return lambda r: r.status_code in codes


def test_the_routes_marked_public_are_the_reviewed_ones(stack: Stack) -> None:
    """Authentication skips the routes whose views are marked ``public``: a new one must
    be added to PUBLIC above, where it is seen."""
    assert public_endpoints(stack.client.application) == PUBLIC


def test_without_a_token_everything_but_public_routes_is_401(stack: Stack, world: World) -> None:
    before = _rows(stack)

    def expect(call: Call) -> Any:
        if call.endpoint in PUBLIC:
            return lambda r: r.status_code < 500 and r.status_code != 401
        return _status(401)

    assert "\n".join(_walk(stack, world, None, world.demo_project, expect)) == ""
    assert stack.client.get("/audit/v1/events").status_code == 401
    assert _rows(stack) == before


def test_a_reader_reads_everything_and_changes_nothing(stack: Stack, world: World) -> None:
    token = stack.token("rita")
    before = _rows(stack)

    def expect(call: Call) -> Any:
        if call.endpoint in PUBLIC:
            return None
        special = _admin_or_403(call, reader=True)
        if special is not None:
            return special if call.method == "GET" else _status(403)
        if call.endpoint in USER_OWNED_READS:
            return _status(404)
        if call.method == "GET":
            return _status(200, 204, 300)  # 204: a tag the server has
        return _status(403)

    assert "\n".join(_walk(stack, world, token, world.demo_project, expect)) == ""
    assert _rows(stack) == before


def test_another_project_gets_404_for_every_resource_and_lists_none(
    stack: Stack, world: World
) -> None:
    token = stack.token("bob")
    before = _rows(stack)
    hidden = world.secrets()

    def expect(call: Call) -> Any:
        if call.endpoint in PUBLIC or call.endpoint in OWN_CREATES:
            return None
        special = _admin_or_403(call, reader=False)
        if special is not None and call.method != "GET":
            return _status(403)
        if special is not None and call.endpoint in QUOTA_ANYONE:
            return special  # defaults echo the project id asked about, and nothing else
        if special is not None:
            return lambda r: special(r) and not any(i in r.get_data(as_text=True) for i in hidden)
        if call.endpoint in OTHER_CREATES:
            return _status(OTHER_CREATES[call.endpoint])
        if call.names_a_resource:
            return _status(404)
        if call.method == "GET":
            return lambda r: (
                r.status_code == 200 and not any(i in r.get_data(as_text=True) for i in hidden)
            )
        raise AssertionError(f"{call.method} {call.rule} is not classified")

    assert "\n".join(_walk(stack, world, token, world.other_project, expect)) == ""
    assert _rows(stack) == before


def test_the_victims_project_in_another_projects_url_is_403(stack: Stack, world: World) -> None:
    """Cinder's URLs carry the project: another project's is refused before anything."""
    token = stack.token("bob")
    before = _rows(stack)

    def expect(call: Call) -> Any:
        return (
            _status(403)
            if "project_id" in call.params and call.rule.startswith("/volume")
            else None
        )

    assert _walk(stack, world, token, world.demo_project, expect) == []
    assert _rows(stack) == before


@pytest.mark.parametrize(
    "path, key, flag",
    [
        ("/compute/v2.1/servers/detail", "servers", "all_tenants"),
        ("/volume/v3/{project}/volumes/detail", "volumes", "all_tenants"),
        ("/volume/v3/{project}/snapshots", "snapshots", "all_tenants"),
        ("/networking/v2.0/networks", "networks", None),
        ("/networking/v2.0/ports", "ports", None),
        ("/networking/v2.0/routers", "routers", None),
        ("/networking/v2.0/floatingips", "floatingips", None),
        ("/networking/v2.0/security-groups", "security_groups", "all_projects"),
        ("/image/v2/images", "images", None),
    ],
)
def test_an_admin_lists_across_projects(
    stack: Stack, world: World, path: str, key: str, flag: str | None
) -> None:
    admin = Neutron(stack, "admin")
    url = path.format(project=admin.project_id)
    query = {flag: "1"} if flag else {}
    response = stack.client.get(url, query_string=query, headers=admin.h)
    assert response.status_code == 200, response.json
    owners = {
        item.get("tenant_id")
        or item.get("project_id")
        or item.get("owner")
        or item.get("os-vol-tenant-attr:tenant_id")
        or item.get("os-extended-snapshot-attributes:project_id")
        for item in response.json[key]
    }
    assert world.demo_project in owners, owners
