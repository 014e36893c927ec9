"""``FakeNetworkDriver``: the ``NetworkDriver`` contract in memory, for tests.

It checks specs as the real driver does and passes the same contract suite. Its dicts hold
the specs it was given, by id, for tests to look at; ``fail`` makes the next call(s) of a
method raise (a host that cannot act, a spec refused).
"""

from __future__ import annotations

import threading

from activities.faults import Faults
from activities.network import validate
from activities.network.base import (
    DataPlaneState,
    DhcpSpec,
    NetworkSpec,
    PortFilter,
    RouterSpec,
    bridge_name,
)
from nimbus.errors import InvalidSpec, NotFound


class FakeNetworkDriver:
    """In-memory data plane; every method is thread-safe and checks injected failures first."""

    def __init__(self) -> None:
        self.networks: dict[str, NetworkSpec] = {}
        self.dhcp: dict[str, DhcpSpec] = {}
        self.routers: dict[str, RouterSpec] = {}
        self.filters: dict[str, PortFilter] = {}
        self.groups: dict[str, tuple[str, ...]] = {}
        #: Bridges made behind the driver's back (tests put names here).
        self.foreign_bridges: set[str] = set()
        self.faults = Faults()
        self._lock = threading.RLock()

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` before doing anything."""
        self.faults.fail(method, error, times)

    def _require_network(self, network_id: str) -> None:
        if network_id not in self.networks:
            raise NotFound(f"network {network_id} is not on this host")

    def ensure_network(self, spec: NetworkSpec) -> None:
        """See ``NetworkDriver.ensure_network``."""
        self.faults.check("ensure_network")
        validate.check_network(spec)
        with self._lock:
            self.networks[spec.network_id] = spec

    def delete_network(self, network_id: str) -> None:
        """See ``NetworkDriver.delete_network``."""
        self.faults.check("delete_network")
        validate.check_id(network_id, "network id")
        with self._lock:
            self.networks.pop(network_id, None)

    def ensure_dhcp(self, spec: DhcpSpec) -> None:
        """See ``NetworkDriver.ensure_dhcp``."""
        self.faults.check("ensure_dhcp")
        validate.check_dhcp(spec)
        with self._lock:
            self._require_network(spec.network_id)
            applied = self.dhcp.get(spec.network_id)
            if applied is not None and spec.older_than(applied.generation):
                return
            self.dhcp[spec.network_id] = spec

    def delete_dhcp(self, network_id: str) -> None:
        """See ``NetworkDriver.delete_dhcp``."""
        self.faults.check("delete_dhcp")
        validate.check_id(network_id, "network id")
        with self._lock:
            self.dhcp.pop(network_id, None)

    def ensure_router(self, spec: RouterSpec) -> None:
        """See ``NetworkDriver.ensure_router``."""
        self.faults.check("ensure_router")
        validate.check_router(spec)
        with self._lock:
            for port in (*spec.interfaces, *filter(None, [spec.gateway])):
                self._require_network(port.network_id)
            self.routers[spec.router_id] = spec

    def delete_router(self, router_id: str) -> None:
        """See ``NetworkDriver.delete_router``."""
        self.faults.check("delete_router")
        validate.check_id(router_id, "router id")
        with self._lock:
            self.routers.pop(router_id, None)

    def ensure_port_filter(self, spec: PortFilter) -> None:
        """See ``NetworkDriver.ensure_port_filter``; a tag held by another port (with port
        security on) is ``InvalidSpec``, as on a real host."""
        self.faults.check("ensure_port_filter")
        validate.check_filter(spec)
        with self._lock:
            for other in self.filters.values():
                holds = other.port_security and spec.port_security and other.tag == spec.tag
                if holds and other.port_id != spec.port_id:
                    raise InvalidSpec(f"tag {spec.tag} is held by port {other.port_id}")
            self.filters[spec.port_id] = spec

    def remove_port_filter(self, port_id: str) -> None:
        """See ``NetworkDriver.remove_port_filter``."""
        self.faults.check("remove_port_filter")
        validate.check_id(port_id, "port id")
        with self._lock:
            self.filters.pop(port_id, None)

    def set_group_members(self, group_id: str, addresses: tuple[str, ...]) -> None:
        """See ``NetworkDriver.set_group_members``."""
        self.faults.check("set_group_members")
        validate.check_members(group_id, addresses)
        with self._lock:
            self.groups[group_id] = tuple(addresses)

    def delete_group(self, group_id: str) -> None:
        """See ``NetworkDriver.delete_group``."""
        self.faults.check("delete_group")
        validate.check_id(group_id, "group id")
        with self._lock:
            self.groups.pop(group_id, None)

    def bridges(self) -> frozenset[str]:
        """See ``NetworkDriver.bridges``."""
        self.faults.check("bridges")
        with self._lock:
            return frozenset({bridge_name(n) for n in self.networks} | self.foreign_bridges)

    def state(self) -> DataPlaneState:
        """See ``NetworkDriver.state`` (here, what memory holds)."""
        self.faults.check("state")
        with self._lock:
            return DataPlaneState(
                networks=frozenset(self.networks),
                dhcp=frozenset(self.dhcp),
                routers=frozenset(self.routers),
                port_filters=frozenset(self.filters),
                groups=frozenset(self.groups),
            )
