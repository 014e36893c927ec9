"""Automation's way: apply a stack with openstacksdk, apply it again, tear it down."""

from __future__ import annotations

import openstack
from openstack.config.loader import OpenStackConfig

from launcher.netbootstrap import PUBLIC_NETWORK
from tests.support.cloud import Cloud
from tests.support.sdk_stack import StackSpec, apply, destroy

SPEC = StackSpec(prefix="sdkapply", external_network=PUBLIC_NETWORK)


def _left(conn: openstack.connection.Connection) -> list[str]:
    found = [
        conn.compute.find_server(SPEC.name("server")),
        conn.block_storage.find_volume(SPEC.name("vol")),
        conn.compute.find_keypair(SPEC.name("key")),
        conn.network.find_security_group(SPEC.name("ssh")),
        conn.network.find_router(SPEC.name("router")),
        conn.network.find_network(SPEC.name("net")),
    ]
    return [str(item.name) for item in found if item is not None]


def test_a_stack_applied_twice_changes_nothing_and_tears_down_clean(cloud: Cloud) -> None:
    config = OpenStackConfig(config_files=[str(cloud.settings.data_dir / "clouds.yaml")])
    conn = openstack.connection.Connection(config=config.get_one(cloud="nimbus"))
    try:
        first = apply(conn, SPEC)
        assert set(first.created) >= {"network", "server", "volume", "attachment"}
        second = apply(conn, SPEC)
        assert second.created == [] and second.ids == first.ids
        assert second.floating_ip == first.floating_ip
        server = conn.compute.get_server(first.ids["server"])
        assert server.key_name == SPEC.name("key")
        assert first.ids["volume"] in {a["id"] for a in server.attached_volumes}
    finally:
        destroy(conn, SPEC)
        destroy(conn, SPEC)  # a second teardown finds nothing to do
    assert _left(conn) == []
    assert first.ids["floating_ip"] not in {ip.id for ip in conn.network.ips()}
