"""``FakeNetworkDriver``: the NetworkDriver contract in memory, for tests."""

from __future__ import annotations

import threading

from activities.faults import Faults
from activities.network.base import (
    DataPlaneState,
    DhcpSpec,
    NetworkSpec,
    PortFilter,
    RouterSpec,
)
from nimbus.errors import NotFound


class FakeNetworkDriver:
    """Specs kept by id; ``fail`` injects an error into the next call of a method."""

    def __init__(self) -> None:
        self.networks: dict[str, NetworkSpec] = {}
        self.dhcp: dict[str, DhcpSpec] = {}
        self.routers: dict[str, RouterSpec] = {}
        self.filters: dict[str, PortFilter] = {}
        self.groups: dict[str, tuple[str, ...]] = {}
        self.faults = Faults()
        self._lock = threading.RLock()

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        self.faults.fail(method, error, times)

    def ensure_network(self, spec: NetworkSpec) -> None:
        self.faults.check("ensure_network")
        with self._lock:
            self.networks[spec.network_id] = spec

    def delete_network(self, network_id: str) -> None:
        self.faults.check("delete_network")
        with self._lock:
            self.networks.pop(network_id, None)

    def ensure_dhcp(self, spec: DhcpSpec) -> None:
        self.faults.check("ensure_dhcp")
        with self._lock:
            if spec.network_id not in self.networks:
                raise NotFound(f"network {spec.network_id} has no bridge here")
            self.dhcp[spec.network_id] = spec

    def delete_dhcp(self, network_id: str) -> None:
        self.faults.check("delete_dhcp")
        with self._lock:
            self.dhcp.pop(network_id, None)

    def ensure_router(self, spec: RouterSpec) -> None:
        self.faults.check("ensure_router")
        with self._lock:
            ports = [*spec.interfaces, *([spec.gateway] if spec.gateway else [])]
            for port in ports:
                if port.network_id not in self.networks:
                    raise NotFound(f"network {port.network_id} has no bridge here")
            self.routers[spec.router_id] = spec

    def delete_router(self, router_id: str) -> None:
        self.faults.check("delete_router")
        with self._lock:
            self.routers.pop(router_id, None)

    def ensure_port_filter(self, spec: PortFilter) -> None:
        self.faults.check("ensure_port_filter")
        with self._lock:
            self.filters[spec.port_id] = spec

    def remove_port_filter(self, port_id: str) -> None:
        self.faults.check("remove_port_filter")
        with self._lock:
            self.filters.pop(port_id, None)

    def set_group_members(self, group_id: str, addresses: tuple[str, ...]) -> None:
        self.faults.check("set_group_members")
        with self._lock:
            self.groups[group_id] = tuple(addresses)

    def delete_group(self, group_id: str) -> None:
        self.faults.check("delete_group")
        with self._lock:
            self.groups.pop(group_id, None)

    def state(self) -> DataPlaneState:
        with self._lock:
            return DataPlaneState(
                networks=frozenset(self.networks),
                dhcp=frozenset(self.dhcp),
                routers=frozenset(self.routers),
                port_filters=frozenset(self.filters),
                groups=frozenset(self.groups),
            )
