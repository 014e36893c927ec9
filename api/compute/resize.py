"""The ``resize``, ``confirmResize`` and ``revertResize`` server actions (``openstack
server resize --flavor F``, ``server resize confirm``, ``server resize revert``), on the
server's own host as Nova's ``allow_resize_to_same_host`` does.

A resize needs another flavor whose disk is not smaller (400), quota for the extra vCPUs
and memory (403), and an ACTIVE or SHUTOFF server with no task (409); it ends in
VERIFY_RESIZE. Confirming keeps the new flavor (204); reverting goes back to the old one,
the disk rolled back to how it was at the resize (202). A volume-backed server's root
volume keeps its size and data through all three: only its vCPUs and memory change, and
the flavor's disk does not count."""

from __future__ import annotations

from typing import Any

from flask import Response

from api import deps, quotas
from api.compute.flavors import flavor_of_server, get_flavor
from api.context import RequestContext
from api.policy import authorize
from api.validation import ref_id
from nimbus.db import Server
from nimbus.db_compute import finished_migration, forget_copy
from nimbus.errors import Conflict, InvalidSpec, NotFound
from workflows import starter
from workflows.server_move import MoveInput
from workflows.server_resize import RESIZING, REVERTING, ResizeInput

_FROM = ("ACTIVE", "SHUTOFF")


def resize(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:resize")
    if not isinstance(args, dict):
        raise InvalidSpec("'resize' must be an object naming the flavorRef.")
    unknown = set(args) - {"flavorRef", "OS-DCF:diskConfig"}
    if unknown:
        raise InvalidSpec(f"Additional properties are not allowed: {', '.join(sorted(unknown))}.")
    try:
        new = get_flavor(ref_id(args.get("flavorRef"), "flavorRef"))
    except NotFound as exc:
        raise InvalidSpec(str(exc)) from exc
    old = flavor_of_server(server)
    if new.id == old.id:
        raise InvalidSpec("When resizing, instances must change flavor!")
    on_volume = bool(server.root_volume)  # its root keeps its size: the flavor's disk is moot
    if new.disk < old.disk and not on_volume:
        raise InvalidSpec("Resize to smaller disk flavor is not allowed.")
    grow = {"cores": max(0, new.vcpus - old.vcpus), "ram": max(0, new.ram - old.ram)}
    with deps.db().session() as s:
        quotas.charge(s, server.project_id, grow)
        row = s.get(Server, server.id)
        if row is None or row.status not in _FROM or row.task_state is not None or not row.host:
            state = f"{row.status}/{row.task_state}" if row else "gone"
            raise Conflict(f"Cannot 'resize' instance {server.id} while it is in vm_state {state}")
        stopped, previous = row.status == "SHUTOFF", row.status
        row.old_flavor_id, row.flavor_id = row.flavor_id, new.id
        forget_copy(s, server.id, new.id)
        row.status, row.task_state = "RESIZE", RESIZING
    inp = ResizeInput(server.id, stopped)
    try:
        deps.bridge().run(
            lambda c: starter.start_resize(c, server.project_id, "resize", inp, on_volume)
        )
    except Exception:
        _undo(server.id, RESIZING, previous, back_to=old.id)
        raise
    return Response(status=202), 202


def _migration(server: Server) -> int | None:
    """The id of the server's cold migration awaiting confirmation, if that is what
    its VERIFY_RESIZE awaits (not a resize)."""
    with deps.db().session() as s:
        move = finished_migration(s, server.id)
        return move.id if move is not None else None


def confirm(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:resize")
    _awaiting(server, "confirmResize")
    migration = _migration(server)
    if migration is not None:
        move = MoveInput(server.id, migration, server.power_state == 4)
        op = "confirm-migration"
        deps.bridge().run(lambda c: starter.start_move(c, server.project_id, op, move))
        return Response(status=204), 204
    inp = ResizeInput(server.id, server.power_state == 4)
    deps.bridge().run(lambda c: starter.start_resize(c, server.project_id, "confirm-resize", inp))
    return Response(status=204), 204


def revert(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:resize")
    _awaiting(server, "revertResize")
    with deps.db().session() as s:
        row = s.get(Server, server.id)
        if row is None or row.status != "VERIFY_RESIZE" or row.task_state is not None:
            raise Conflict(f"Cannot 'revertResize' instance {server.id} now.")
        row.status, row.task_state = "REVERT_RESIZE", REVERTING
    inp, on_volume = ResizeInput(server.id, server.power_state == 4), bool(server.root_volume)
    migration = _migration(server)
    try:
        if migration is not None:
            move, op = MoveInput(server.id, migration, inp.stopped), "revert-migration"
            deps.bridge().run(lambda c: starter.start_move(c, server.project_id, op, move))
        else:
            deps.bridge().run(
                lambda c: starter.start_resize(
                    c, server.project_id, "revert-resize", inp, on_volume
                )
            )
    except Exception:
        _undo(server.id, REVERTING, "VERIFY_RESIZE")
        raise
    return Response(status=202), 202


def _awaiting(server: Server, action: str) -> None:
    if server.status != "VERIFY_RESIZE" or server.task_state is not None:
        raise Conflict(
            f"Cannot '{action}' instance {server.id} while it is in vm_state "
            f"{server.status}/{server.task_state}: it awaits no resize confirmation."
        )


def _undo(server_id: str, task: str, status: str, back_to: str | None = None) -> None:
    """Put the server back as it was, if its workflow never started."""
    with deps.db().session() as s:
        row = s.get(Server, server_id)
        if row is not None and row.task_state == task:
            row.status, row.task_state = status, None
            if back_to is not None:
                row.flavor_id, row.old_flavor_id = back_to, None
