"""A small stack applied through openstacksdk the way automation does it.

Ansible's and Terraform's OpenStack providers look each resource up by name and create
only what is missing, so applying the same description twice must change nothing. This
is that, written against the plain openstacksdk proxies: network, subnet, router with an
external gateway, security group opening SSH, key pair, a server with a floating IP and a
volume attached. ``destroy`` removes it in reverse order and is as safe to run twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openstack.connection import Connection


@dataclass(frozen=True)
class StackSpec:
    prefix: str
    external_network: str
    image: str = "nimbus-guest"
    flavor: str = "m1.tiny"
    cidr: str = "10.77.0.0/24"
    volume_size: int = 1

    def name(self, part: str) -> str:
        return f"{self.prefix}-{part}"


@dataclass
class Applied:
    """What one apply found or made, and how many resources it had to create."""

    ids: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    floating_ip: str = ""


def _ensure(applied: Applied, kind: str, found: Any, create: Any) -> Any:
    if found is None:
        found = create()
        applied.created.append(kind)
    applied.ids[kind] = found.id
    return found


def apply(conn: Connection, spec: StackSpec) -> Applied:
    """Create what is missing of the stack; return every resource's id."""
    out = Applied()
    net, sdk = conn.network, conn.compute
    network = _ensure(
        out, "network", net.find_network(spec.name("net")),
        lambda: net.create_network(name=spec.name("net")),
    )  # fmt: skip
    subnet = _ensure(
        out, "subnet", net.find_subnet(spec.name("subnet"), network_id=network.id),
        lambda: net.create_subnet(
            name=spec.name("subnet"), network_id=network.id, ip_version=4, cidr=spec.cidr
        ),
    )  # fmt: skip
    router = _ensure(
        out, "router", net.find_router(spec.name("router")),
        lambda: _make_router(conn, spec, subnet.id),
    )  # fmt: skip
    group = _ensure(
        out, "security_group", net.find_security_group(spec.name("ssh")),
        lambda: _make_group(conn, spec),
    )  # fmt: skip
    _ensure(
        out, "keypair", sdk.find_keypair(spec.name("key")),
        lambda: sdk.create_keypair(name=spec.name("key")),
    )  # fmt: skip
    server = _ensure(
        out, "server", sdk.find_server(spec.name("server")),
        lambda: _make_server(conn, spec, network.id, group.name),
    )  # fmt: skip
    server = sdk.wait_for_server(sdk.get_server(server.id), status="ACTIVE", wait=600)
    out.floating_ip = _ensure_floating_ip(conn, spec, out, server.id)
    volume = _ensure(
        out, "volume", conn.block_storage.find_volume(spec.name("vol")),
        lambda: conn.block_storage.create_volume(name=spec.name("vol"), size=spec.volume_size),
    )  # fmt: skip
    _ensure_attached(conn, out, server.id, volume.id)
    assert router.external_gateway_info or net.get_router(router.id).external_gateway_info
    return out


def _make_router(conn: Connection, spec: StackSpec, subnet_id: str) -> Any:
    public = conn.network.find_network(spec.external_network, ignore_missing=False)
    router = conn.network.create_router(
        name=spec.name("router"), external_gateway_info={"network_id": public.id}
    )
    conn.network.add_interface_to_router(router, subnet_id=subnet_id)
    return router


def _make_group(conn: Connection, spec: StackSpec) -> Any:
    group = conn.network.create_security_group(name=spec.name("ssh"))
    conn.network.create_security_group_rule(
        security_group_id=group.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
    )
    return group


def _make_server(conn: Connection, spec: StackSpec, network_id: str, group: str) -> Any:
    image = conn.image.find_image(spec.image, ignore_missing=False)
    flavor = conn.compute.find_flavor(spec.flavor, ignore_missing=False)
    return conn.compute.create_server(
        name=spec.name("server"),
        image_id=image.id,
        flavor_id=flavor.id,
        networks=[{"uuid": network_id}],
        key_name=spec.name("key"),
        security_groups=[{"name": group}],
    )


def _ensure_floating_ip(conn: Connection, spec: StackSpec, out: Applied, server_id: str) -> str:
    ports = list(conn.network.ports(device_id=server_id))
    port_ids = {p.id for p in ports}
    for ip in conn.network.ips():
        if ip.port_id in port_ids:
            out.ids["floating_ip"] = ip.id
            return str(ip.floating_ip_address)
    public = conn.network.find_network(spec.external_network, ignore_missing=False)
    ip = conn.network.create_ip(floating_network_id=public.id, port_id=ports[0].id)
    out.ids["floating_ip"] = ip.id
    out.created.append("floating_ip")
    return str(ip.floating_ip_address)


def _ensure_attached(conn: Connection, out: Applied, server_id: str, volume_id: str) -> None:
    storage = conn.block_storage
    volume = storage.get_volume(volume_id)
    if volume.status != "in-use":
        storage.wait_for_status(volume, status="available", wait=300, failures=["error"])
        conn.compute.create_volume_attachment(server_id, volume=volume_id)
        out.created.append("attachment")
    storage.wait_for_status(
        storage.get_volume(volume_id), status="in-use", wait=300, failures=["error"]
    )


def destroy(conn: Connection, spec: StackSpec) -> None:
    """Delete the stack in reverse order; what is already gone is skipped."""
    net, sdk, storage = conn.network, conn.compute, conn.block_storage
    server = sdk.find_server(spec.name("server"))
    volume = storage.find_volume(spec.name("vol"))
    if server is not None:
        for ip in list(net.ips()):
            if ip.port_id in {p.id for p in net.ports(device_id=server.id)}:
                net.delete_ip(ip)
        if volume is not None and volume.status == "in-use":
            sdk.delete_volume_attachment(server, volume.id)
            storage.wait_for_status(storage.get_volume(volume.id), status="available", wait=300)
        sdk.delete_server(server)
        sdk.wait_for_delete(server, wait=300)
    if volume is not None:
        storage.delete_volume(volume)
        storage.wait_for_delete(volume, wait=300)
    if (key := sdk.find_keypair(spec.name("key"))) is not None:
        sdk.delete_keypair(key)
    if (group := net.find_security_group(spec.name("ssh"))) is not None:
        net.delete_security_group(group)
    network = net.find_network(spec.name("net"))
    if (router := net.find_router(spec.name("router"))) is not None:
        subnet = net.find_subnet(spec.name("subnet"))
        if subnet is not None:
            net.remove_interface_from_router(router, subnet_id=subnet.id)
        net.delete_router(router)
    if network is not None:
        net.delete_network(network)
