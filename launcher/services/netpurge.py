"""Removing a throw-away cloud's network devices (tests and benchmarks end with this).

``nimbus down`` leaves networks, DHCP servers and routers in place, as it leaves guests
running; a cloud that is being thrown away must take them with it.
"""

from __future__ import annotations

import subprocess

from launcher.drivers import real_network
from nimbus.config import Settings


def purge_network(settings: Settings) -> None:
    """Remove every network device the cloud's driver recorded, then its nftables tables."""
    driver = real_network(settings)
    # Everything recorded, not only what is whole: a half-removed object goes too.
    recorded = getattr(driver, "recorded", None)
    state = recorded() if recorded is not None else driver.state()
    for router_id in state.routers:
        driver.delete_router(router_id)
    for network_id in state.dhcp:
        driver.delete_dhcp(network_id)
    for port_id in state.port_filters:
        driver.remove_port_filter(port_id)
    for group_id in state.groups:
        driver.delete_group(group_id)
    for network_id in state.networks:
        driver.delete_network(network_id)
    for family in ("inet", "bridge"):
        subprocess.run(["nft", "delete", "table", family, settings.nft_table], capture_output=True)
