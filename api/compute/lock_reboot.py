"""Server actions ``reboot``, ``lock`` and ``unlock``, and the lock every other action
and delete respects (Nova's ``check_instance_lock``)."""

from __future__ import annotations

from typing import Any

from flask import Response

from activities.records import LockInput
from api import deps
from api.compute.create_schema import unexpected
from api.compute.servers import set_task_state
from api.context import RequestContext
from api.microversion import at_least
from api.policy import allowed, authorize
from nimbus.db import Server
from nimbus.errors import Conflict, InvalidSpec
from workflows import starter
from workflows.server_reboot import RebootInput

#: Where each reboot type may start, and the status it shows meanwhile (Nova's).
_REBOOT = {
    "SOFT": (("ACTIVE",), "REBOOT", "reboot_started"),
    "HARD": (("ACTIVE", "SHUTOFF", "ERROR"), "HARD_REBOOT", "reboot_started_hard"),
}


def check_unlocked(server: Server, ctx: RequestContext) -> None:
    """409 for a locked server unless the caller is an admin."""
    if server.locked and not allowed(ctx, "compute:servers:unlock_any"):
        raise Conflict(f"Instance {server.id} is locked")


def reboot(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:reboot")
    kind = args.get("type") if isinstance(args, dict) else None
    if not isinstance(kind, str) or kind.upper() not in _REBOOT:
        raise InvalidSpec("Invalid input for field/attribute type: must be SOFT or HARD.")
    check_unlocked(server, ctx)
    allowed_from, status, task = _REBOOT[kind.upper()]
    with deps.db().session() as s:
        row = s.get(Server, server.id)
        if (
            row is None
            or row.status not in allowed_from
            or row.task_state is not None
            or not row.host
        ):
            state = f"{row.status}/{row.task_state}" if row else "gone"
            raise Conflict(f"Cannot 'reboot' instance {server.id} while it is in vm_state {state}")
        previous, row.status, row.task_state = row.status, status, task
    inp = RebootInput(
        server.id, server.host or "", kind.upper() == "HARD", deps.settings().soft_reboot_seconds
    )
    try:
        deps.bridge().run(lambda c: starter.start_reboot(c, server.project_id, inp))
    except Exception:
        _restore(server.id, previous, task)
        raise
    return Response(status=202), 202


def _restore(server_id: str, status: str, task: str) -> None:
    with deps.db().session() as s:
        row = s.get(Server, server_id)
        if row is not None and row.task_state == task:
            row.status, row.task_state = status, None
    set_task_state(server_id, None, expect=task)


def lock(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:lock")
    if args is not None and not isinstance(args, dict):
        raise InvalidSpec("Invalid input for field/attribute lock: must be null or an object.")
    if args and (set(args) - {"locked_reason"} or not at_least("2.73")):
        raise unexpected(set(args) if not at_least("2.73") else set(args) - {"locked_reason"})
    reason = args.get("locked_reason") if isinstance(args, dict) else None
    if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
        raise InvalidSpec("locked_reason must be a string of at most 255 characters.")
    by = "admin" if allowed(ctx, "compute:servers:unlock_any") else "owner"
    inp = LockInput(server.id, True, reason, by)
    deps.bridge().run(lambda c: starter.set_lock(c, server.project_id, inp))
    return Response(status=202), 202


def unlock(server: Server, ctx: RequestContext, _args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:lock")
    if server.locked_by == "admin" and not allowed(ctx, "compute:servers:unlock_any"):
        raise Conflict(f"Instance {server.id} was locked by an admin: only an admin unlocks it")
    inp = LockInput(server.id, False)
    deps.bridge().run(lambda c: starter.set_lock(c, server.project_id, inp))
    return Response(status=202), 202
