"""Database activities of moving a server between hosts: a cold migration (Nova's
``migrate``, confirmed or reverted like a resize) and an evacuation (Nova's ``evacuate``:
the server built again on another host from the same disk, its own host being down).

Each reads and writes the server's row and its migration record together, and acts only
while the server's task is the move's own (``resize_migrating``, ``resize_reverting`` or
``rebuilding``): a retry after it committed, or a late run after a delete, changes
nothing it should not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.compute import ServerRef
from activities.placement import claim_move
from activities.records import BootPlan, boot_plan
from activities.server_ports import ServerPorts, port_summary, server_ports
from nimbus.db import Database, Image, Server, utcnow
from nimbus.db_compute import Migration, server_flavor
from nimbus.errors import Conflict, NotFound

#: The server's task while it moves, by migration type (Nova's task states).
MIGRATING, REVERTING, EVACUATING = "resize_migrating", "resize_reverting", "rebuilding"


@dataclass(frozen=True)
class MoveRef:
    server_id: str
    migration_id: int


@dataclass(frozen=True)
class MovePlan:
    """Where the server moves from and to, and why the scheduler chose that host."""

    server_id: str
    migration_id: int
    source: str
    dest: str
    placement: str = ""


@dataclass(frozen=True)
class FinishMoveInput:
    server_id: str
    migration_id: int
    #: The task the server must still have for the record to be made (None: it awaits
    #: confirmation, VERIFY_RESIZE).
    task_state: str | None
    status: str
    power_state: int
    #: The migration's status from now on.
    migration_status: str


@dataclass(frozen=True)
class FailMoveInput:
    server_id: str
    migration_id: int
    task_state: str
    message: str
    #: Whether the server never left its host (no host to move to): it goes back to the
    #: status it had, as in Nova, instead of ERROR.
    stayed: bool = False
    #: The status it had (ACTIVE or SHUTOFF), for ``stayed``.
    status: str = "ACTIVE"


class MoveRecords:
    """Activities on servers on the move and their migration records."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def claim_destination(self, inp: MoveRef) -> MovePlan:
        """Choose and claim the destination host (``NoValidHost`` if none fits); a retry
        keeps the host chosen before."""
        with self.db.session() as s:
            server, move = _moving(s, inp)
            flavor = server_flavor(s, server.id, server.flavor_id)
            if flavor is None:
                raise NotFound("the server's flavor no longer exists")
            decision = claim_move(s, server, flavor, move)
            return MovePlan(
                server.id, move.id, move.source_compute, str(decision.host), decision.summary()
            )

    @activity.defn
    def move_to_destination(self, inp: MoveRef) -> BootPlan:
        """The server is on its destination from now on; what to start there."""
        return self._move(inp, to_source=False)

    @activity.defn
    def move_to_source(self, inp: MoveRef) -> BootPlan:
        """The server is back on the host it left (a revert, or a failed move undone);
        what to start there."""
        return self._move(inp, to_source=True)

    def _move(self, inp: MoveRef, to_source: bool) -> BootPlan:
        with self.db.session() as s:
            server, move = _moving(s, inp)
            if move.dest_compute is None:
                raise Conflict(f"migration {move.id} has no destination")
            server.host = move.source_compute if to_source else move.dest_compute
            if not to_source and move.status == "pre-migrating":
                move.status = "migrating"
            flavor = server_flavor(s, server.id, server.flavor_id)
            if flavor is None:
                raise NotFound("the server's flavor no longer exists")
            if server.root_volume:
                return boot_plan(server, flavor, "")
            image = s.get(Image, server.image_id)
            if image is None or not image.location:
                raise NotFound("the server's image no longer exists")
            return boot_plan(server, flavor, image.location)

    @activity.defn
    def server_ports(self, inp: ServerRef) -> ServerPorts:
        """The server's ports as they are (to take their filters off the host it left)."""
        with self.db.session() as s:
            return port_summary(s, server_ports(s, inp.server_id))

    @activity.defn
    def finish(self, inp: FinishMoveInput) -> None:
        """Record the move's end: the server's status and power, its task cleared, and
        the migration's status; nothing if the server's task is no longer the move's."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            move = s.get(Migration, inp.migration_id)
            if move is not None and move.status not in ("error", inp.migration_status):
                move.status = inp.migration_status
            if server is None or server.deleted_at or server.task_state != inp.task_state:
                return
            if inp.task_state is None and server.status != "VERIFY_RESIZE":
                return
            server.status, server.task_state = inp.status, None
            server.power_state = inp.power_state

    @activity.defn
    def fail(self, inp: FailMoveInput) -> None:
        """The migration failed: it is ``error`` with the reason, and the server is
        ERROR with a fault, or (``stayed``) back as it was."""
        with self.db.session() as s:
            move = s.get(Migration, inp.migration_id)
            if move is not None:
                move.status, move.error = "error", inp.message
            server = s.get(Server, inp.server_id)
            if server is None or server.deleted_at or server.task_state != inp.task_state:
                return
            server.task_state = None
            if inp.stayed:
                server.status = inp.status
                return
            server.status, server.power_state = "ERROR", 0
            stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
            server.fault = {"code": 500, "message": inp.message, "created": stamp}

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.claim_destination,
            self.move_to_destination,
            self.move_to_source,
            self.server_ports,
            self.finish,
            self.fail,
        ]


def _moving(s: Any, inp: MoveRef) -> tuple[Server, Migration]:
    server = s.get(Server, inp.server_id)
    if server is None or server.deleted_at is not None:
        raise NotFound(f"server {inp.server_id} not found")
    move = s.get(Migration, inp.migration_id)
    if move is None or move.server_id != server.id:
        raise NotFound(f"migration {inp.migration_id} of server {inp.server_id} not found")
    if server.task_state not in (MIGRATING, REVERTING, EVACUATING):
        raise Conflict(f"server {server.id} is {server.status}/{server.task_state}, not moving")
    return server, move
