"""Database activities of the server workflows: placement and status changes.

Updates are conditional, so that a late or retried activity never resurrects a server that
is being deleted, nor overwrites a newer state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session
from temporalio import activity

from activities.compute import AttachedVolume, ServerRef
from activities.network_records import (
    DhcpPlan,
    GroupPlan,
    NetworkPlan,
    PortPlan,
    dhcp_plan_of,
    group_members,
    network_on,
    port_plan_of,
)
from activities.placement import claim
from activities.server_ports import ServerPorts, activate, bind
from nimbus.db import Database, Flavor, Image, Server, VolumeAttachment, utcnow
from nimbus.db_compute import server_flavor
from nimbus.db_network import Port
from nimbus.errors import Conflict, NotFound


@dataclass(frozen=True)
class BootPlan:
    server_id: str
    host: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    image_location: str
    name: str = ""
    project_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    public_keys: dict[str, str] = field(default_factory=dict)
    #: Volumes attached to the server, that a domain defined again must keep.
    volumes: tuple[AttachedVolume, ...] = ()
    #: A volume-backed server's root volume.
    root_volume_id: str | None = None
    #: Why the scheduler chose its host (``nimbus.scheduler.Decision.summary``), kept in
    #: the boot's history; empty for a plan that did not place it.
    placement: str = ""


@dataclass(frozen=True)
class PlacedBoot:
    """A boot's plan, and its ports bound to the plan's host."""

    plan: BootPlan
    ports: ServerPorts


@dataclass(frozen=True)
class PlannedBoot:
    """A placed boot with what plugging its ports takes (``Plugging``): each network's
    bridge on the host, each port's filter, each security group's members; and the DHCP
    servers of its networks that are on its host (``dhcp``), with the ones whose port is
    not ACTIVE yet (``dhcp_down``: plumbed, they turn ACTIVE)."""

    placed: PlacedBoot
    networks: tuple[NetworkPlan, ...]
    ports: tuple[PortPlan, ...]
    groups: tuple[tuple[str, GroupPlan], ...]
    dhcp: tuple[DhcpPlan, ...] = ()
    dhcp_down: tuple[str, ...] = ()


@dataclass(frozen=True)
class LockInput:
    server_id: str
    locked: bool
    reason: str | None = None
    #: ``admin`` or ``owner``: who may unlock it.
    locked_by: str | None = None


@dataclass(frozen=True)
class MarkActiveInput:
    server_id: str
    power_state: int
    #: Its ports turn ACTIVE in the same step (a boot's last, ``LEASES_BESIDE_LAUNCH``).
    ports_active: bool = False


@dataclass(frozen=True)
class MarkErrorInput:
    server_id: str
    message: str
    code: int = 500


@dataclass(frozen=True)
class DeletePlan:
    server_id: str
    host: str | None


@dataclass(frozen=True)
class SetPowerInput:
    server_id: str
    status: str
    power_state: int
    #: When set, the record is made only while the server's task is still this one: a
    #: retry after it committed, or a run a newer request of the same kind replaced,
    #: changes nothing.
    task_state: str | None = None


class ServerRecords:
    """Activities that read and write server rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def plan_boot(self, inp: ServerRef) -> BootPlan:
        """Place the server on a live host and say what to build there.

        Keeps an earlier placement, so a retried boot returns to the same host.
        """
        with self.db.session() as s:
            return self._plan_boot(s, inp.server_id)

    def _plan_boot(self, s: Any, server_id: str) -> BootPlan:
        server = _building(s.get(Server, server_id), server_id)
        flavor = server_flavor(s, server.id, server.flavor_id)
        image = s.get(Image, server.image_id)
        if flavor is None or image is None or not image.location:
            raise NotFound("the server's flavor or image no longer exists")
        decision = claim(s, server, flavor)
        server.task_state = "spawning"
        return boot_plan(server, flavor, image.location, decision.summary())

    @activity.defn
    def place_and_bind(self, inp: ServerRef) -> PlacedBoot:
        """``plan_boot``, and the server's ports bound to its host (``bind_ports``), in
        one transaction: one step of a boot's first workflow task rather than two. A retry
        keeps the placement and binds again, to the same host."""
        with self.db.session() as s:
            return self._place_and_bind(s, inp.server_id)

    def _place_and_bind(self, s: Any, server_id: str) -> PlacedBoot:
        plan = self._plan_boot(s, server_id)
        return PlacedBoot(plan, bind(s, server_id, plan.host))

    @activity.defn
    def place_bind_and_plan(self, inp: ServerRef) -> PlannedBoot:
        """``place_and_bind``, and the plans of the bridges, filters and group members the
        ports need, and of the DHCP servers on the host, read in the same transaction: a
        boot's first workflow task runs one local activity rather than one per plan. A
        retry places and binds the same way (and numbers its DHCP plans anew)."""
        with self.db.session() as s:
            placed = self._place_and_bind(s, inp.server_id)
            s.flush()
            host, ports = placed.plan.host, placed.ports
            dhcp = tuple(
                plan
                for plan in (dhcp_plan_of(s, network_id) for network_id in ports.networks)
                if plan.host == host and plan.spec is not None
            )
            return PlannedBoot(
                placed,
                tuple(network_on(s, network_id, host) for network_id in ports.networks),
                tuple(port_plan_of(s, nic.port_id) for nic in ports.nics),
                tuple((g, group_members(s, g)) for g in sorted(set(ports.groups))),
                dhcp,
                tuple(
                    plan.spec.port_id
                    for plan in dhcp
                    if plan.spec is not None and not _is_active(s, plan.spec.port_id)
                ),
            )

    @activity.defn
    def plan_rebuild(self, inp: ServerRef) -> BootPlan:
        """What to build again on the server's host: its (new) image, name and metadata,
        set by the API with the task ``rebuilding``; ``Conflict`` once that task is gone
        (the server is being deleted, or the rebuild was replaced)."""
        return self._replan(inp.server_id, ("rebuilding",))

    @activity.defn
    def plan_resize(self, inp: ServerRef) -> BootPlan:
        """What to start again on the server's host with its (new, or on a revert its old)
        flavor, while the API's task ``resize_prep`` or ``resize_reverting`` holds."""
        return self._replan(inp.server_id, ("resize_prep", "resize_reverting"))

    @activity.defn
    def revert_flavor(self, inp: ServerRef) -> None:
        """Give the server back the flavor it was resized from (done already: nothing)."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            if server is not None and server.old_flavor_id:
                server.flavor_id, server.old_flavor_id = server.old_flavor_id, None

    @activity.defn
    def confirm_resize(self, inp: ServerRef) -> None:
        """A resize awaiting confirmation is kept: ACTIVE (or SHUTOFF if its domain is
        off) on the new flavor; anything else is left as it is."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            if server is None or server.status != "VERIFY_RESIZE":
                return
            server.status = "SHUTOFF" if server.power_state == 4 else "ACTIVE"
            server.old_flavor_id, server.task_state = None, None

    def _replan(self, server_id: str, tasks: tuple[str, ...]) -> BootPlan:
        with self.db.session() as s:
            server = s.get(Server, server_id)
            if server is None or server.deleted_at is not None:
                raise NotFound(f"server {server_id} not found")
            if server.task_state not in tasks or not server.host:
                raise Conflict(f"server {server_id} is not being {' or '.join(tasks)}")
            flavor = server_flavor(s, server.id, server.flavor_id)
            if server.root_volume and flavor is not None:
                return boot_plan(server, flavor, "")  # its root is its volume
            image = s.get(Image, server.image_id)
            if flavor is None or image is None or not image.location:
                raise NotFound("the server's flavor or image no longer exists")
            return boot_plan(server, flavor, image.location)

    @activity.defn
    def mark_active(self, inp: MarkActiveInput) -> None:
        """BUILD -> ACTIVE; ``Conflict`` if the server is being deleted meanwhile. A retry
        after this step committed finds the server already ACTIVE, and leaves it so. With
        ``ports_active``, its ports turn ACTIVE too, in the same transaction."""
        with self.db.session() as s:
            found = s.get(Server, inp.server_id)
            if _already_active(found):
                return
            if inp.ports_active:
                activate(s, inp.server_id)
            server = _building(found, inp.server_id)
            server.status, server.task_state = "ACTIVE", None
            server.power_state, server.launched_at = inp.power_state, utcnow()

    @activity.defn
    def mark_error(self, inp: MarkErrorInput) -> None:
        """Put the server in ERROR with a fault, unless it is being deleted."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            if server is None or server.deleted_at or server.task_state == "deleting":
                return
            server.status, server.task_state, server.power_state = "ERROR", None, 0
            server.fault = {"code": inp.code, "message": inp.message, "created": _iso(utcnow())}

    @activity.defn
    def plan_delete(self, inp: ServerRef) -> DeletePlan:
        """Say where the server's domain and disk are, if it was ever placed."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            if server is None:
                raise NotFound(f"server {inp.server_id} not found")
            return DeletePlan(server_id=server.id, host=server.host)

    @activity.defn
    def mark_deleted(self, inp: ServerRef) -> None:
        """Soft-delete the row: it disappears from the API."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            if server is not None and server.deleted_at is None:
                server.status, server.task_state, server.power_state = "DELETED", None, 0
                server.deleted_at = utcnow()

    @activity.defn
    def set_power(self, inp: SetPowerInput) -> None:
        """Record a finished power or state change, and clear the task state."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            if server is None or server.deleted_at or server.task_state == "deleting":
                return
            if inp.task_state is not None and server.task_state != inp.task_state:
                return
            server.status, server.task_state = inp.status, None
            server.power_state = inp.power_state

    @activity.defn
    def set_lock(self, inp: LockInput) -> None:
        """Lock the server (kept as it is if already locked: the first reason and locker
        stay) or unlock it; safe to run again."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            if server is None or server.deleted_at is not None:
                raise NotFound(f"Instance {inp.server_id} could not be found.")
            if not inp.locked:
                server.locked, server.locked_reason, server.locked_by = False, None, None
            elif not server.locked:
                server.locked, server.locked_reason = True, inp.reason
                server.locked_by = inp.locked_by

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.set_lock,
            self.plan_boot,
            self.place_and_bind,
            self.place_bind_and_plan,
            self.plan_rebuild,
            self.plan_resize,
            self.revert_flavor,
            self.confirm_resize,
            self.mark_active,
            self.mark_error,
            self.plan_delete,
            self.mark_deleted,
            self.set_power,
        ]


def boot_plan(server: Server, flavor: Flavor, image_location: str, placement: str = "") -> BootPlan:
    """What to build the placed server from: its flavor, root image (``""`` for a volume
    root) and what its config drive tells the guest; ``placement``, the scheduler's
    decision."""
    return BootPlan(
        server_id=server.id,
        host=server.host or "",
        vcpus=flavor.vcpus,
        memory_mib=flavor.ram,
        disk_gib=flavor.disk,
        image_location=image_location,
        name=server.name,
        project_id=server.project_id,
        metadata=dict(server.metadata_ or {}),
        user_data=server.user_data,
        public_keys=public_keys(server),
        volumes=_attached_volumes(server),
        root_volume_id=(server.root_volume or {}).get("volume_id"),
        placement=placement,
    )


def _attached_volumes(server: Server) -> tuple[AttachedVolume, ...]:
    """The server's attached volumes besides a root volume, by device."""
    s = object_session(server)
    if s is None:
        return ()
    rows = s.scalars(
        select(VolumeAttachment)
        .where(VolumeAttachment.server_id == server.id)
        .order_by(VolumeAttachment.device)
    ).all()
    return tuple(AttachedVolume(r.volume_id, r.device) for r in rows if r.boot_index != 0)


def public_keys(server: Server) -> dict[str, str]:
    """The server's key pair as the guest is told it: ``{name: public key}``."""
    if server.key_name and server.key_data:
        return {server.key_name: server.key_data}
    return {}


def _already_active(server: Server | None) -> bool:
    """Whether ``mark_active`` has already run for this server (and nothing since)."""
    return (
        server is not None
        and server.deleted_at is None
        and server.status == "ACTIVE"
        and server.task_state is None
        and server.launched_at is not None
    )


def _building(server: Server | None, server_id: str) -> Server:
    if server is None or server.deleted_at is not None:
        raise NotFound(f"server {server_id} not found")
    if server.task_state == "deleting" or server.status != "BUILD":
        raise Conflict(f"server {server_id} is {server.status}/{server.task_state}, not building")
    return server


def _is_active(s: Any, port_id: str) -> bool:
    port = s.get(Port, port_id)
    return port is not None and port.status == "ACTIVE"


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
