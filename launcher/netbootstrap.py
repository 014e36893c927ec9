"""The external network every cloud starts with: ``public``, a host-only bridge.

Routers put their gateways and floating IPs on it. It carries a private range
(``Settings.external_cidr``); the host takes its first address, so operators (and tests)
reach floating IPs from the host through this bridge alone. Nothing is forwarded between
it and the host's uplink unless ``Settings.external_uplink`` is on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sqlalchemy import select

from nimbus.config import Settings
from nimbus.db import Database
from nimbus.db_network import Network, Subnet, lowest_free

PUBLIC_NETWORK = "public"
PUBLIC_SUBNET = "public-subnet"


@dataclass(frozen=True)
class PublicNetwork:
    """What is still to be realised: the network (if BUILD) and the subnet (if not ready)."""

    network_id: str
    subnet_id: str
    create_network: bool
    create_subnet: bool


def stage_public_network(db: Database, settings: Settings, project_id: str) -> PublicNetwork:
    """The rows of ``public`` and its subnet, written if missing (like any API request
    would), and which of them a workflow must still realise."""
    cidr = ipaddress.ip_network(settings.external_cidr)
    hosts = list(cidr.hosts())
    with db.session() as s:
        network = s.scalars(
            select(Network).where(Network.name == PUBLIC_NETWORK, Network.external.is_(True))
        ).first()
        if network is None:
            network = Network(
                project_id=project_id,
                name=PUBLIC_NETWORK,
                external=True,
                segment=lowest_free(s, Network.segment),
            )
            s.add(network)
            s.flush()
        subnet = s.scalars(select(Subnet).where(Subnet.network_id == network.id)).first()
        if subnet is None:
            subnet = Subnet(
                project_id=project_id,
                network_id=network.id,
                name=PUBLIC_SUBNET,
                cidr=str(cidr),
                gateway_ip=str(hosts[0]),
                allocation_pools=[{"start": str(hosts[1]), "end": str(hosts[-1])}],
                enable_dhcp=False,
            )
            s.add(subnet)
            s.flush()
        return PublicNetwork(network.id, subnet.id, network.status != "ACTIVE", not subnet.ready)
