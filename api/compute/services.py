"""Nova's compute services (``/os-services``, ``openstack compute service list|set|delete``)
and host aggregates as zones (``/os-aggregates``, read only), admins only.

Each registered host is one ``nova-compute`` service: up while its worker beats,
enabled unless an admin disabled it (the scheduler then places nothing new there; its
servers go on). From 2.53 a service's id is a UUID (derived from its host's name, so
stable) and it is changed with ``PUT /os-services/{id}``; before, ids are integers and
``PUT /os-services/disable``, ``disable-log-reason`` and ``enable`` name the host.
A host is down when its worker stops beating, or as soon as an admin forces it down
(``forced_down``, 2.11: ``openstack compute service set --down``), which an evacuation
of its servers needs; it stays down until the admin says otherwise.
Deleting a service forgets its host, which must hold no servers (409 otherwise); a
worker that starts again registers it anew, as a restarted nova-compute does.

A zone other than the default ``nova`` is what an aggregate with that
``availability_zone`` is in Nova: ``/os-aggregates`` lists one per such zone, with its
hosts, so that ``openstack hypervisor show`` can name a host's aggregates.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import deps
from api.compute import bp
from api.context import current
from api.microversion import at_least
from api.policy import authorize
from api.timefmt import iso
from api.validation import json_body
from nimbus.db import Host, Server, utcnow
from nimbus.errors import Conflict, InvalidSpec, NotFound
from nimbus.scheduler import is_up

BINARY = "nova-compute"
DEFAULT_ZONE = "nova"


def service_id(host: str) -> str | int:
    """The host's compute service id at the request's microversion."""
    if at_least("2.53"):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nimbus-compute-service/{host}"))
    return zlib.crc32(f"service/{host}".encode()) & 0x7FFFFFFF


def _view(host: Host, now: dt.datetime) -> dict[str, Any]:
    up = is_up(host.heartbeat_at, host.forced_down, now)
    view: dict[str, Any] = {
        "id": service_id(host.name),
        "binary": BINARY,
        "host": host.name,
        "zone": host.availability_zone,
        "status": "disabled" if host.disabled else "enabled",
        "state": "up" if up else "down",
        "updated_at": iso(host.heartbeat_at),
        "disabled_reason": host.disabled_reason,
    }
    if at_least("2.11"):
        view["forced_down"] = host.forced_down
    return view


def _hosts(s: Session) -> list[Host]:
    return list(s.scalars(select(Host).order_by(Host.name)))


@bp.get("/v2.1/os-services")
def list_services() -> Response:
    authorize(current(), "compute:services:list")
    host, binary = request.args.get("host"), request.args.get("binary")
    now = utcnow()
    with deps.db().session() as s:
        views = [
            _view(h, now)
            for h in _hosts(s)
            if (host is None or h.name == host) and binary in (None, BINARY)
        ]
    return jsonify({"services": views})


def _by_id(s: Session, wanted: str) -> Host:
    for host in _hosts(s):
        if str(service_id(host.name)) == wanted:
            return host
    raise NotFound(f"Service {wanted} could not be found.")


def _reason(raw: Any) -> str:
    if not isinstance(raw, str) or not 1 <= len(raw.strip()) <= 255:
        raise InvalidSpec("Invalid input for field/attribute disabled_reason.")
    return raw.strip()


@bp.put("/v2.1/os-services/<service>")
def update_service(service: str) -> Response:
    """2.53's ``PUT /os-services/{id}``; before it, ``disable``, ``disable-log-reason``
    and ``enable`` with the host in the body."""
    ctx = current()
    authorize(ctx, "compute:services:update")
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidSpec("The request body must be an object.")
    if not at_least("2.53"):
        return _legacy_update(service, body)
    extra = set(body) - {"status", "disabled_reason", "forced_down"}
    if extra or not body:
        raise InvalidSpec("Invalid input: give status, disabled_reason or forced_down.")
    status = body.get("status")
    if status not in (None, "enabled", "disabled"):
        raise InvalidSpec(f"Invalid input for field/attribute status. Value: {status}.")
    if "disabled_reason" in body and status != "disabled":
        raise InvalidSpec("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    forced = body.get("forced_down")
    if forced is not None and not isinstance(forced, bool):
        raise InvalidSpec(f"Invalid input for field/attribute forced_down. Value: {forced}.")
    with deps.db().session() as s:
        host = _by_id(s, service)
        if forced is not None:
            host.forced_down = forced
        if status is not None:
            host.disabled = status == "disabled"
            host.disabled_reason = (
                _reason(body["disabled_reason"]) if "disabled_reason" in body else None
            )
        return jsonify({"service": _view(host, utcnow())})


def _legacy_update(action: str, body: dict[str, Any]) -> Response:
    actions = ["disable", "disable-log-reason", "enable"]
    if at_least("2.11"):
        actions.append("force-down")
    if action not in actions:
        raise NotFound(f"Unknown action {action}.")
    name, binary = body.get("host"), body.get("binary")
    if not isinstance(name, str) or binary != BINARY:
        raise InvalidSpec("Give the host and the binary nova-compute.")
    with deps.db().session() as s:
        host = s.get(Host, name)
        if host is None:
            raise NotFound(f"Compute host {name} could not be found.")
        if action == "force-down":
            forced = body.get("forced_down")
            if not isinstance(forced, bool):
                raise InvalidSpec(f"Invalid input for field/attribute forced_down: {forced}.")
            host.forced_down = forced
            return jsonify({"service": {"host": name, "binary": binary, "forced_down": forced}})
        host.disabled = action != "enable"
        host.disabled_reason = None
        answer: dict[str, Any] = {"host": name, "binary": binary}
        if action == "disable-log-reason":
            host.disabled_reason = _reason(body.get("disabled_reason"))
            answer["disabled_reason"] = host.disabled_reason
        answer["status"] = "disabled" if host.disabled else "enabled"
        return jsonify({"service": answer})


@bp.delete("/v2.1/os-services/<service>")
def delete_service(service: str) -> tuple[str, int]:
    authorize(current(), "compute:services:delete")
    with deps.db().session() as s:
        host = _by_id(s, service)
        placed = s.scalar(
            select(func.count())
            .select_from(Server)
            .where(Server.host == host.name, Server.deleted_at.is_(None))
        )
        if placed:
            raise Conflict("Unable to delete compute service that is hosting instances.")
        s.delete(host)
    return "", 204


def _aggregates(s: Session) -> list[dict[str, Any]]:
    zones: dict[str, list[str]] = {}
    for host in _hosts(s):
        if host.availability_zone != DEFAULT_ZONE:
            zones.setdefault(host.availability_zone, []).append(host.name)
    views = []
    for zone, hosts in sorted(zones.items()):
        view: dict[str, Any] = {
            "id": zlib.crc32(f"aggregate/{zone}".encode()) & 0x7FFFFFFF,
            "name": zone,
            "availability_zone": zone,
            "hosts": hosts,
            "metadata": {"availability_zone": zone},
            "created_at": None,
            "updated_at": None,
            "deleted_at": None,
            "deleted": False,
        }
        if at_least("2.41"):
            view["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"nimbus-aggregate/{zone}"))
        views.append(view)
    return views


@bp.get("/v2.1/os-aggregates")
def list_aggregates() -> Response:
    authorize(current(), "compute:aggregates:list")
    with deps.db().session() as s:
        return jsonify({"aggregates": _aggregates(s)})


@bp.get("/v2.1/os-aggregates/<aggregate_id>")
def show_aggregate(aggregate_id: str) -> Response:
    authorize(current(), "compute:aggregates:list")
    with deps.db().session() as s:
        for view in _aggregates(s):
            if str(view["id"]) == aggregate_id:
                return jsonify({"aggregate": view})
    raise NotFound(f"Aggregate {aggregate_id} could not be found.")
