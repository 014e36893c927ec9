"""A tour of the cloud over fake drivers: every kind of operation a user starts, each
waited for to settle, then a check that nothing is left half-built. The activity
campaigns (every activity run twice, the worker killed at every step) run it under their
fault."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from activities.drift import (
    CompareInput,
    DriftRecords,
    DriftReport,
    HostInventoryActivities,
    StoreInventoryActivities,
    StoreRef,
)
from activities.network_host import HostRef
from activities.paas_databases import SERVICES_GROUP
from launcher.bootstrap import DEFAULT_IMAGE
from nimbus.db import Image, Server, Volume, VolumeAttachment
from nimbus.db_network import FloatingIP, Network, Port, Router, SecurityGroup, Subnet, as_dict
from nimbus.db_paas import App, Instance
from paas import postgresql
from tests.support.neutron import Neutron
from tests.support.paas import STATIC_SITE, Guest, PaasUser
from tests.support.stack import Stack, import_default_image


def _until(check: Callable[[], Any], what: str | Callable[[], str], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"never: {what if isinstance(what, str) else what()}")


class Cloud:
    """Alice's calls to compute, volume and image, each waited for to settle."""

    def __init__(self, stack: Stack, neutron: Neutron) -> None:
        self.stack, self.h = stack, neutron.h
        self.volumes = f"/volume/v3/{neutron.project_id}"

    def call(self, method: str, path: str, status: int, **kw: Any) -> Any:
        r = self.stack.client.open(path, method=method, headers=self.h, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.get_data(as_text=True))
        return r.json if r.is_json else None

    def server(self, server_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/compute/v2.1/servers/{server_id}", 200)["server"])

    def settled(self, server_id: str, status: str) -> dict[str, Any]:
        last: list[Any] = []

        def check() -> Any:
            server = self.server(server_id)
            keys = ("status", "OS-EXT-STS:vm_state", "OS-EXT-STS:task_state", "fault")
            last[:] = [{k: server.get(k) for k in keys}]
            assert server["status"] != "ERROR", server
            idle = server["status"] == status and not server.get("OS-EXT-STS:task_state")
            return server if idle else None

        return dict(_until(check, lambda: f"server {server_id} {status}; last: {last}"))

    def action(self, server_id: str, body: dict[str, Any], then: str) -> None:
        self.call("POST", f"/compute/v2.1/servers/{server_id}/action", 202, json=body)
        self.settled(server_id, then)

    def volume(self, volume_id: str, status: str) -> dict[str, Any]:
        def check() -> Any:
            r = self.stack.client.get(f"{self.volumes}/volumes/{volume_id}", headers=self.h)
            if status == "deleted":
                return r.status_code == 404
            volume = r.json["volume"]
            assert volume["status"] != "error", volume
            return volume if volume["status"] == status else None

        found = _until(check, f"volume {volume_id} {status}")
        return found if isinstance(found, dict) else {}

    def boot(self, name: str, network_id: str, **extra: Any) -> str:
        body = {"name": name, "flavorRef": "1", "networks": [{"uuid": network_id}], **extra}
        body.setdefault("imageRef", self.stack.image_id())
        server = self.call("POST", "/compute/v2.1/servers", 202, json={"server": body})
        server_id = str(server["server"]["id"])
        self.settled(server_id, "ACTIVE")
        return server_id

    def gone(self, server_id: str) -> None:
        self.call("DELETE", f"/compute/v2.1/servers/{server_id}", 204)

        def check() -> bool:
            r = self.stack.client.get(f"/compute/v2.1/servers/{server_id}", headers=self.h)
            return r.status_code == 404

        _until(check, f"server {server_id} deleted")


def _servers_and_volumes(cloud: Cloud, network_id: str) -> None:
    server_id = cloud.boot("twice", network_id)
    for body, then in [
        ({"os-stop": None}, "SHUTOFF"),
        ({"os-start": None}, "ACTIVE"),
        ({"reboot": {"type": "HARD"}}, "ACTIVE"),
        ({"reboot": {"type": "SOFT"}}, "ACTIVE"),
        ({"pause": None}, "PAUSED"),
        ({"unpause": None}, "ACTIVE"),
        ({"suspend": None}, "SUSPENDED"),
        ({"resume": None}, "ACTIVE"),
        ({"rebuild": {"imageRef": cloud.stack.image_id(), "name": "rebuilt"}}, "ACTIVE"),
    ]:
        cloud.action(server_id, body, then)

    # A NIC on the network plugged in, and out again (its port deleted).
    interfaces = f"/compute/v2.1/servers/{server_id}/os-interface"
    plugged = cloud.call(
        "POST", interfaces, 200, json={"interfaceAttachment": {"net_id": network_id}}
    )
    port_id = plugged["interfaceAttachment"]["port_id"]
    cloud.call("DELETE", f"{interfaces}/{port_id}", 202)
    _until(
        lambda: len(cloud.call("GET", interfaces, 200)["interfaceAttachments"]) == 1,
        "the interface detached",
    )

    # An image of the server, then a server from that image.
    create_image = {"createImage": {"name": "snap-of-twice"}}
    r = cloud.stack.client.post(
        f"/compute/v2.1/servers/{server_id}/action", json=create_image, headers=cloud.h
    )
    assert r.status_code == 202, r.json
    image_id = r.headers["Location"].rsplit("/", 1)[-1]
    _until(
        lambda: cloud.call("GET", f"/image/v2/images/{image_id}", 200)["status"] == "active",
        "the server's image active",
    )

    # Volumes: create, extend, attach, detach, snapshot, revert, a volume from it, delete.
    vol = cloud.call("POST", f"{cloud.volumes}/volumes", 202, json={"volume": {"size": 1}})
    volume_id = vol["volume"]["id"]
    cloud.volume(volume_id, "available")
    extend = {"os-extend": {"new_size": 2}}
    cloud.call("POST", f"{cloud.volumes}/volumes/{volume_id}/action", 202, json=extend)
    _until(lambda: cloud.volume(volume_id, "available")["size"] == 2, "volume extended")
    attach = {"volumeAttachment": {"volumeId": volume_id}}
    attachments = f"/compute/v2.1/servers/{server_id}/os-volume_attachments"
    cloud.call("POST", attachments, 200, json=attach)
    cloud.volume(volume_id, "in-use")
    cloud.call("DELETE", f"{attachments}/{volume_id}", 202)
    cloud.volume(volume_id, "available")
    snap = cloud.call(
        "POST", f"{cloud.volumes}/snapshots", 202, json={"snapshot": {"volume_id": volume_id}}
    )["snapshot"]
    _until(
        lambda: (
            cloud.call("GET", f"{cloud.volumes}/snapshots/{snap['id']}", 200)["snapshot"]["status"]
            == "available"
        ),
        "snapshot available",
    )
    revert = cloud.stack.client.post(
        f"{cloud.volumes}/volumes/{volume_id}/action",
        json={"revert": {"snapshot_id": snap["id"]}},
        headers={**cloud.h, "OpenStack-API-Version": "volume 3.40"},
    )
    assert revert.status_code == 202, revert.json
    cloud.volume(volume_id, "available")
    from_snap = {"volume": {"size": 2, "snapshot_id": snap["id"]}}
    copy_id = cloud.call("POST", f"{cloud.volumes}/volumes", 202, json=from_snap)["volume"]["id"]
    cloud.volume(copy_id, "available")
    cloud.call("DELETE", f"{cloud.volumes}/volumes/{copy_id}", 202)
    cloud.volume(copy_id, "deleted")
    cloud.call("DELETE", f"{cloud.volumes}/snapshots/{snap['id']}", 202)
    _until(
        lambda: (
            cloud.stack.client.get(
                f"{cloud.volumes}/snapshots/{snap['id']}", headers=cloud.h
            ).status_code
            == 404
        ),
        "snapshot deleted",
    )
    cloud.call("DELETE", f"{cloud.volumes}/volumes/{volume_id}", 202)
    cloud.volume(volume_id, "deleted")

    # Boot from a new volume made from the image, deleted with the server.
    bdm = {
        "block_device_mapping_v2": [
            {
                "boot_index": 0,
                "uuid": cloud.stack.image_id(),
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": 1,
                "delete_on_termination": True,
            }
        ],
        "imageRef": "",
    }
    from_volume = cloud.boot("twice-bfv", network_id, **bdm)
    # Rebuilt on its volume (its own image), resized, reverted: the volume-backed kinds.
    for body, then in [
        ({"rebuild": {"imageRef": cloud.stack.image_id(), "name": "bfv-again"}}, "ACTIVE"),
        ({"resize": {"flavorRef": "2"}}, "VERIFY_RESIZE"),
        ({"revertResize": None}, "ACTIVE"),
    ]:
        cloud.action(from_volume, body, then)
    cloud.gone(from_volume)

    # Resize, revert, resize again and confirm (after the image: its copy reads every byte).
    for body, then in [
        ({"resize": {"flavorRef": "2"}}, "VERIFY_RESIZE"),
        ({"revertResize": None}, "ACTIVE"),
        ({"resize": {"flavorRef": "2"}}, "VERIFY_RESIZE"),
    ]:
        cloud.action(server_id, body, then)
    action = f"/compute/v2.1/servers/{server_id}/action"
    cloud.call("POST", action, 204, json={"confirmResize": None})
    _until(lambda: cloud.server(server_id)["status"] == "ACTIVE", "the resize confirmed")
    for body, locked in (({"lock": None}, True), ({"unlock": None}, False)):
        cloud.call("POST", action, 202, json=body)
        row = cloud.stack.server(server_id)
        assert row is not None and row.locked is locked
    cloud.gone(server_id)

    # An uploaded image, then deleted with the server's image.
    image = cloud.call(
        "POST",
        "/image/v2/images",
        201,
        json={"name": "up", "disk_format": "raw", "container_format": "bare"},
    )
    cloud.call(
        "PUT",
        f"/image/v2/images/{image['id']}/file",
        204,
        data=b"x" * 4096,
        content_type="application/octet-stream",
    )
    _until(
        lambda: cloud.call("GET", f"/image/v2/images/{image['id']}", 200)["status"] == "active",
        "uploaded image active",
    )
    for gone in (image["id"], image_id):
        cloud.call("DELETE", f"/image/v2/images/{gone}", 204)


def _networking(admin: Neutron, alice: Neutron) -> dict[str, Any]:
    external = admin.network("public", **{"router:external": True})
    admin.subnet(external["id"], "172.24.4.0/24", enable_dhcp=False)
    network = alice.network("twice-net")
    subnet = alice.subnet(network["id"])
    router = alice.make("router", name="r", external_gateway_info={"network_id": external["id"]})
    assert alice.put(f"routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    group = alice.make("security_group", name="twice-sg")
    rule = alice.make(
        "security_group_rule",
        security_group_id=group["id"],
        direction="ingress",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
    )
    port = alice.port(network["id"], security_groups=[group["id"]])
    fip = alice.make("floatingip", floating_network_id=external["id"], port_id=port["id"])
    return {
        "network": network,
        "subnet": subnet,
        "router": router,
        "group": group,
        "rule": rule,
        "port": port,
        "fip": fip,
    }


def _tear_down_networking(alice: Neutron, made: dict[str, Any]) -> None:
    # A subnet's DNS servers and a port's groups changed: the network's DHCP server and
    # the port's filter follow.
    dns = {"subnet": {"dns_nameservers": ["10.0.0.53"]}}
    assert alice.put(f"subnets/{made['subnet']['id']}", dns).status_code == 200
    ungrouped = {"port": {"security_groups": []}}
    assert alice.put(f"ports/{made['port']['id']}", ungrouped).status_code == 200
    assert alice.delete(f"floatingips/{made['fip']['id']}").status_code == 204
    assert alice.delete(f"ports/{made['port']['id']}").status_code == 204
    assert alice.delete(f"security-group-rules/{made['rule']['id']}").status_code == 204
    assert alice.delete(f"security-groups/{made['group']['id']}").status_code == 204
    body = {"subnet_id": made["subnet"]["id"]}
    assert alice.put(f"routers/{made['router']['id']}/remove_router_interface", body)
    assert alice.delete(f"routers/{made['router']['id']}").status_code == 204
    assert alice.delete(f"subnets/{made['subnet']['id']}").status_code == 204
    assert alice.delete(f"networks/{made['network']['id']}").status_code == 204


def _credentials(stack: Stack, alice: Neutron) -> None:
    user_id = stack.token_info(alice.h["X-Auth-Token"])["user"]["id"]
    path = f"/identity/v3/users/{user_id}/credentials/OS-EC2"
    made = stack.client.post(path, json={"tenant_id": alice.project_id}, headers=alice.h)
    assert made.status_code == 201, made.json
    access = made.json["credential"]["access"]
    keys = stack.drivers.object_store
    assert list(keys.s3_keys(alice.project_id)) == [access]
    assert stack.client.delete(f"{path}/{access}", headers=alice.h).status_code == 204
    assert keys.s3_keys(alice.project_id) == {}


def _service(stack: Stack, alice: Neutron, name: str, offering: str) -> Callable[[], None]:
    """Create a service and wait until it is AVAILABLE; return what deletes it."""
    body = {"service": {"name": name, "offering": offering}}
    made = stack.client.post("/paas/v1/services", json=body, headers=alice.h)
    assert made.status_code == 202, made.json
    path = f"/paas/v1/services/{made.json['service']['id']}"

    def status() -> str:
        response = stack.client.get(path, headers=alice.h)
        return "GONE" if response.status_code == 404 else str(response.json["service"]["status"])

    _until(lambda: status() == "AVAILABLE", status)

    def delete() -> None:
        assert stack.client.delete(path, headers=alice.h).status_code == 202
        _until(lambda: status() == "GONE", status)

    return delete


def _services(stack: Stack, alice: Neutron, image_file: Path) -> None:
    """An object storage service and a PostgreSQL one made and deleted."""
    delete = _service(stack, alice, "photos", "object-storage")
    store = stack.drivers.object_store
    assert len(store.buckets) == 1, store.buckets
    delete()
    assert store.buckets == {}
    import_default_image(stack, image_file, postgresql.IMAGE_NAME)
    guest = Guest(stack, postgresql.READY)
    guest.start()
    try:
        delete = _service(stack, alice, "db", "postgresql")
    finally:
        guest.done.set()
    assert len(stack.hypervisor.domains) == 1
    delete()
    assert stack.hypervisor.domains == {}


def _paas(stack: Stack, tmp_path: Path) -> None:
    user = PaasUser(stack, "alice")

    def deployed(app: dict[str, Any]) -> bool:
        return app["deployment"]["state"] in ("DEPLOYED", "FAILED")

    app = user.wait_app(user.push(tmp_path, "web", STATIC_SITE)["id"], deployed)
    assert app["deployment"]["state"] == "DEPLOYED", app
    r = user.call("POST", f"/apps/{app['id']}/actions/scale", json={"instances": 2})
    assert r.status_code == 200, r.json
    _until(
        lambda: (
            len([i for i in user.app(app["id"])["instance_states"] if i["state"] == "RUNNING"]) == 2
        ),
        "two instances running",
    )
    assert user.call("DELETE", f"/apps/{app['id']}").status_code == 202
    _until(lambda: user.call("GET", f"/apps/{app['id']}").status_code == 404, "app deleted")


def run_tour(stack: Stack, tmp_path: Path, image_file: Path) -> None:
    """Every operation of the tour, in order, each settled before the next."""
    admin, alice = Neutron(stack, "admin"), Neutron(stack, "alice")
    made = _networking(admin, alice)
    cloud = Cloud(stack, alice)
    _servers_and_volumes(cloud, made["network"]["id"])
    _tear_down_networking(alice, made)
    _credentials(stack, alice)
    _services(stack, alice, image_file)
    _paas(stack, tmp_path)


def assert_nothing_left(stack: Stack) -> None:
    """Nothing is left but the external network and the PaaS space's network (kept for
    the project's next app, with its subnet and DHCP port); nothing is half-built."""
    with stack.db.session() as s:
        live = select(func.count()).select_from(Server).where(Server.deleted_at.is_(None))
        assert s.scalar(live) == 0
        for model in (VolumeAttachment, FloatingIP, Router, App, Instance):
            left = [as_dict(row) for row in s.scalars(select(model))]
            assert left == [], json.dumps(left, default=str)
        nets = {n.name: n.id for n in s.scalars(select(Network))}
        assert set(nets) == {"public", "paas-apps"}, nets
        ports = [(p.network_id, p.device_owner) for p in s.scalars(select(Port))]
        assert ports == [(nets["paas-apps"], "network:dhcp")], ports
        assert s.scalar(select(func.count()).select_from(Subnet)) == 2
        groups = s.scalars(select(SecurityGroup.name)).all()
        assert set(groups) <= {"default", "paas-apps", SERVICES_GROUP}, groups
        images = s.scalars(select(Image.name).where(Image.deleted_at.is_(None))).all()
        assert sorted(images) == [DEFAULT_IMAGE, postgresql.IMAGE_NAME], images
        volumes = s.scalars(select(Volume.id).where(Volume.deleted_at.is_(None))).all()
        assert volumes == [], volumes
    assert stack.hypervisor.domains == {}
    report = drift(stack)
    assert (report.found, report.repaired) == ((), ()), report


def drift(stack: Stack) -> DriftReport:
    """The reconciler's comparison of the rows with what the fake host and store hold:
    an orphan (an object no row accounts for) or a row whose object is gone is drift."""
    settings, drivers = stack.settings, stack.drivers
    host = HostInventoryActivities(drivers.hypervisor, drivers.network, settings.instance_prefix)
    inventory = host.host_inventory(HostRef(settings.host_name))
    store = StoreInventoryActivities(drivers.store).store_inventory(StoreRef())
    return DriftRecords(stack.db).compare(CompareInput((inventory,), store))
