"""Moving servers between hosts, admins only, as Nova does it:

- ``migrate`` (``openstack server migrate [--host H]``): a cold migration to a host the
  scheduler chooses (or, from 2.56, the one asked for if it passes the filters). 202;
  the server goes RESIZE, then VERIFY_RESIZE on its new host, and ``confirmResize`` or
  ``revertResize`` end it like a resize. A server that finds no host stays where it was,
  its migration in ``error``.
- ``evacuate`` (``openstack server evacuate [--host H]``): the server's host is down, so
  the server is built again on another host from the same disk (every disk is in Ceph).
  400 while the host's worker still beats ("still in use"). 200 with ``{}`` before 2.14
  (no admin password is made: log in with a key pair) and an empty body from 2.14.
- ``GET /os-migrations`` (``openstack server migration list``): every migration record,
  newest first, with Nova's filters; from 2.59 paged by uuid, from 2.66 ``changes-before``.
- ``GET /servers/{id}/migrations``: in-progress live migrations, of which there are
  none (servers move cold here).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from activities.moves import EVACUATING, MIGRATING
from api import deps
from api.compute import bp
from api.compute.servers import load_server
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import authorize
from api.timefmt import iso, parse_iso
from api.validation import digits
from nimbus.db import Host, Server, utcnow
from nimbus.db_compute import Migration
from nimbus.errors import Conflict, InvalidSpec, NotFound
from nimbus.scheduler import is_up
from workflows import starter
from workflows.server_move import MoveInput

#: The most migrations one page lists (Nova's ``max_limit``).
MAX_LIMIT = 1000

_MIGRATE_FROM = ("ACTIVE", "SHUTOFF")
_EVACUATE_FROM = ("ACTIVE", "SHUTOFF", "ERROR")


def _host_named(name: Any, missing: type[Exception]) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidSpec("Invalid input for field/attribute host.")
    with deps.db().session() as s:
        if s.get(Host, name) is None:
            raise missing(f"Compute host {name} could not be found.")
    return name


def _conflict(server_id: str, action: str, row: Server | None) -> Conflict:
    state = f"{row.status}/{row.task_state}" if row else "gone"
    return Conflict(f"Cannot '{action}' instance {server_id} while it is in vm_state {state}")


def _record(s: Any, row: Server, ctx: RequestContext, kind: str, **fields: Any) -> Migration:
    move = Migration(
        uuid=str(uuid.uuid4()),
        server_id=row.id,
        project_id=row.project_id,
        user_id=ctx.user_id,
        migration_type=kind,
        status="accepted",
        source_compute=row.host,
        flavor_id=row.flavor_id,
        **fields,
    )
    s.add(move)
    s.flush()
    return move


def _start(server: Server, operation: str, inp: MoveInput, previous: str, task: str) -> None:
    """Start the move's workflow; if it cannot start, the server is as it was and the
    migration is ``error``."""
    try:
        deps.bridge().run(lambda c: starter.start_move(c, server.project_id, operation, inp))
    except Exception:
        with deps.db().session() as s:
            row = s.get(Server, server.id)
            if row is not None and row.task_state == task:
                row.status, row.task_state = previous, None
            move = s.get(Migration, inp.migration_id)
            if move is not None:
                move.status, move.error = "error", "its workflow could not be started"
        raise


def migrate(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:migrate")
    host = None
    if at_least("2.56") and args is not None:
        if not isinstance(args, dict) or set(args) - {"host"}:
            raise InvalidSpec("'migrate' takes only 'host'.")
        if args.get("host") is not None:
            host = _host_named(args["host"], InvalidSpec)
    with deps.db().session() as s:
        row = s.get(Server, server.id)
        if row is None or row.status not in _MIGRATE_FROM or row.task_state or not row.host:
            raise _conflict(server.id, "migrate", row)
        if host is not None and host == row.host:
            raise InvalidSpec("Cannot migrate to the same host.")
        previous = row.status
        move = _record(s, row, ctx, "migration", dest_compute=host)
        row.status, row.task_state = "RESIZE", MIGRATING
        inp = MoveInput(server.id, move.id, previous == "SHUTOFF")
    _start(server, "migrate", inp, previous, MIGRATING)
    return Response(status=202), 202


def _evacuate_args(args: Any) -> tuple[str | None, bool]:
    """The host asked for and whether it is forced, with Nova's schema for the request's
    microversion."""
    if not isinstance(args, dict):
        raise InvalidSpec("'evacuate' must be an object.")
    known = {"host", "adminPass"}
    if not at_least("2.14"):
        known.add("onSharedStorage")
    if at_least("2.29") and not at_least("2.68"):
        known.add("force")
    unknown = set(args) - known
    if unknown:
        raise InvalidSpec(f"Additional properties are not allowed: {', '.join(sorted(unknown))}.")
    if not at_least("2.14"):
        shared = args.get("onSharedStorage")
        if shared is None:
            raise InvalidSpec("'onSharedStorage' is a required property.")
        if str(shared).lower() in ("true", "1", "yes", "on") and "adminPass" in args:
            raise InvalidSpec("admin password can't be changed on existing disk")
    if "adminPass" in args and not isinstance(args["adminPass"], str):
        raise InvalidSpec("Invalid input for field/attribute adminPass.")
    force = args.get("force", False)
    if force not in (True, False) and str(force).lower() not in ("true", "false"):
        raise InvalidSpec("Invalid input for field/attribute force.")
    forced = str(force).lower() == "true"
    host = args.get("host")
    if forced and host is None:
        raise InvalidSpec("Can't force to a non-provided destination")
    return (_host_named(host, NotFound) if host is not None else None), forced


def evacuate(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:evacuate")
    host, forced = _evacuate_args(args)
    if host is not None and host == server.host:
        raise InvalidSpec("The target host can't be the same one.")
    with deps.db().session() as s:
        row = s.get(Server, server.id)
        if row is None or row.status not in _EVACUATE_FROM or row.task_state or not row.host:
            raise _conflict(server.id, "evacuate", row)
        source = s.get(Host, row.host)
        if source is not None and is_up(source.heartbeat_at, source.forced_down, utcnow()):
            raise InvalidSpec(f"Compute service of {row.host} is still in use.")
        previous = row.status
        move = _record(s, row, ctx, "evacuation", dest_compute=host, forced=forced)
        row.status, row.task_state = "REBUILD", EVACUATING
        inp = MoveInput(server.id, move.id, previous == "SHUTOFF")
    _start(server, "evacuate", inp, previous, EVACUATING)
    if at_least("2.14"):
        return Response(status=200), 200
    return jsonify({}), 200


def _flavor_number(flavor_id: str) -> int | str:
    """Nova's ``*_instance_type_id`` is an integer: a numeric flavor id is given as one."""
    return int(flavor_id) if digits(flavor_id) else flavor_id


def _view(move: Migration, vteps: dict[str, str | None]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": move.id,
        "instance_uuid": move.server_id,
        "source_compute": move.source_compute,
        "source_node": move.source_compute,
        "dest_compute": move.dest_compute,
        "dest_node": move.dest_compute,
        "dest_host": vteps.get(move.dest_compute or ""),
        "status": move.status,
        "old_instance_type_id": _flavor_number(move.flavor_id),
        "new_instance_type_id": _flavor_number(move.flavor_id),
        "created_at": iso(move.created_at),
        "updated_at": iso(move.updated_at),
    }
    if at_least("2.23"):
        view["migration_type"] = move.migration_type
    if at_least("2.59"):
        view["uuid"] = move.uuid
    return view


def _filtered(query: Any) -> Any:
    args = request.args
    if args.get("status"):
        query = query.where(Migration.status == args["status"])
    if args.get("instance_uuid"):
        query = query.where(Migration.server_id == args["instance_uuid"])
    if args.get("source_compute"):
        query = query.where(Migration.source_compute == args["source_compute"])
    if args.get("host"):
        host = args["host"]
        query = query.where((Migration.source_compute == host) | (Migration.dest_compute == host))
    if args.get("migration_type"):
        query = query.where(Migration.migration_type == args["migration_type"])
    if at_least("2.59") and args.get("changes-since"):
        query = query.where(
            Migration.updated_at >= parse_iso(args["changes-since"], "changes-since")
        )
    if at_least("2.66") and args.get("changes-before"):
        before = parse_iso(args["changes-before"], "changes-before")
        query = query.where(Migration.updated_at <= before)
    return query


def _limit() -> int | None:
    """Nova's ``limit`` from 2.59, at most ``MAX_LIMIT`` (its ``max_limit``)."""
    raw = request.args.get("limit")
    if raw is None or not at_least("2.59"):
        return None
    if not digits(raw):
        raise InvalidSpec("Invalid input for query parameters limit.")
    return min(int(raw), MAX_LIMIT)


@bp.get("/v2.1/os-migrations")
def list_migrations() -> Response:
    authorize(current(), "compute:migrations:list")
    query = _filtered(select(Migration)).order_by(Migration.id.desc())
    with deps.db().session() as s:
        marker = request.args.get("marker") if at_least("2.59") else None
        if marker:
            after = s.scalars(select(Migration).where(Migration.uuid == marker)).first()
            if after is None:
                raise InvalidSpec(f"Marker {marker} could not be found.")
            query = query.where(Migration.id < after.id)
        limit = _limit()
        if limit is not None:
            query = query.limit(limit)
        vteps = {h.name: h.vtep_address for h in s.scalars(select(Host))}
        views = [_view(m, vteps) for m in s.scalars(query)]
    return jsonify({"migrations": views})


@bp.get("/v2.1/servers/<server_id>/migrations")
def list_server_migrations(server_id: str) -> Response:
    """In-progress live migrations of the server: never any."""
    ctx = current()
    authorize(ctx, "compute:migrations:list")
    load_server(server_id, ctx)
    return jsonify({"migrations": []})


@bp.get("/v2.1/servers/<server_id>/migrations/<migration_id>")
def show_server_migration(server_id: str, migration_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:migrations:list")
    load_server(server_id, ctx)
    raise NotFound(
        f"In-progress live migration {migration_id} is not found for server {server_id}."
    )
