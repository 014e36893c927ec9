"""Reconciling one host's network data plane with the database.

After a reboot a host has lost its bridges, namespaces and rules although their rows say
ACTIVE; after a workflow was terminated by hand, a device may have no row. The worker
compares the two when it starts: what the rows want on this host is converged again, and
what the host has without a row is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from temporalio import activity

from activities.network.base import DataPlaneState, NetworkDriver
from nimbus.db import Database
from nimbus.db_network import NETWORK_OWNED, Network, Port, Router, SecurityGroup


@dataclass(frozen=True)
class HostRef:
    host: str


@dataclass(frozen=True)
class HostState:
    """Ids of what exists on a host (as ``DataPlaneState``, in lists for JSON)."""

    networks: tuple[str, ...] = ()
    dhcp: tuple[str, ...] = ()
    routers: tuple[str, ...] = ()
    port_filters: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostNetworkPlan:
    """What belongs on a host (to converge) and what it has without a row (to remove)."""

    networks: tuple[str, ...] = ()
    dhcp_networks: tuple[str, ...] = ()
    routers: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    orphans: HostState = HostState()


@dataclass(frozen=True)
class HostPlanInput:
    host: str
    state: HostState


def as_host_state(state: DataPlaneState) -> HostState:
    return HostState(
        networks=tuple(sorted(state.networks)),
        dhcp=tuple(sorted(state.dhcp)),
        routers=tuple(sorted(state.routers)),
        port_filters=tuple(sorted(state.port_filters)),
        groups=tuple(sorted(state.groups)),
    )


class HostNetworkState:
    """The host side: what the driver has realised here (host queue)."""

    def __init__(self, driver: NetworkDriver) -> None:
        self.driver = driver

    @activity.defn
    def network_state(self, inp: HostRef) -> HostState:
        """Ids of the networks, DHCP servers, routers, filters and groups on this host."""
        return as_host_state(self.driver.state())

    def all(self) -> list[Callable[..., Any]]:
        return [self.network_state]


class HostNetworkRecords:
    """The database side (control queue)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def plan_for_host(self, inp: HostPlanInput) -> HostNetworkPlan:
        """What rows want on ``inp.host``, and the ids of devices there without rows."""
        with self.db.session() as s:
            bound = s.scalars(select(Port).where(Port.binding_host == inp.host)).all()
            filtered = [p for p in bound if p.device_owner not in NETWORK_OWNED]
            live = Network.status.not_in(("DELETING", "BUILD"))
            networks = s.scalars(
                select(Network.id).where(
                    live,
                    or_(Network.host == inp.host, Network.id.in_({p.network_id for p in bound})),
                )
            ).all()
            dhcp = s.scalars(select(Network.id).where(live, Network.host == inp.host)).all()
            routers = s.scalars(select(Router.id).where(Router.host == inp.host)).all()
            groups = sorted({g for p in filtered for g in (p.security_group_ids or [])})
            known = _known(s)
        have = inp.state
        return HostNetworkPlan(
            networks=tuple(sorted(networks)),
            dhcp_networks=tuple(sorted(dhcp)),
            routers=tuple(sorted(routers)),
            ports=tuple(sorted(p.id for p in filtered)),
            groups=tuple(groups),
            orphans=HostState(
                networks=tuple(i for i in have.networks if i not in known["networks"]),
                dhcp=tuple(i for i in have.dhcp if i not in known["networks"]),
                routers=tuple(i for i in have.routers if i not in known["routers"]),
                port_filters=tuple(i for i in have.port_filters if i not in known["ports"]),
                groups=tuple(i for i in have.groups if i not in known["groups"]),
            ),
        )

    @activity.defn
    def gone_from_host(self, inp: HostPlanInput) -> HostState:
        """Which of the objects in ``inp.state``, just converged on ``inp.host``, no longer
        belong there: a network or router gone or being deleted, a port gone or bound
        elsewhere, a group gone. Asked after the convergence, so that a device rebuilt
        from a plan that went stale meanwhile is removed: a delete marks its object
        before it removes the devices, so it either removes them after this host's
        rebuild or is seen here."""
        want = inp.state
        with self.db.session() as s:
            live_networks = _live(s, Network, want.networks + want.dhcp)
            live_routers = _live(s, Router, want.routers)
            bound_here = set(
                s.scalars(
                    select(Port.id).where(
                        Port.id.in_(want.port_filters), Port.binding_host == inp.host
                    )
                ).all()
            )
            groups = set(
                s.scalars(select(SecurityGroup.id).where(SecurityGroup.id.in_(want.groups)))
            )
        return HostState(
            networks=tuple(i for i in want.networks if i not in live_networks),
            dhcp=tuple(i for i in want.dhcp if i not in live_networks),
            routers=tuple(i for i in want.routers if i not in live_routers),
            port_filters=tuple(i for i in want.port_filters if i not in bound_here),
            groups=tuple(i for i in want.groups if i not in groups),
        )

    def all(self) -> list[Callable[..., Any]]:
        return [self.plan_for_host, self.gone_from_host]


def _live(s: Any, model: Any, ids: tuple[str, ...]) -> set[str]:
    """The ids among ``ids`` whose row exists and is not being deleted."""
    if not ids:
        return set()
    rows = select(model.id).where(model.id.in_(set(ids)), model.status != "DELETING")
    return set(s.scalars(rows).all())


def _known(s: Any) -> dict[str, set[str]]:
    return {
        "networks": set(s.scalars(select(Network.id)).all()),
        "routers": set(s.scalars(select(Router.id)).all()),
        "ports": set(s.scalars(select(Port.id)).all()),
        "groups": set(s.scalars(select(SecurityGroup.id)).all()),
    }
