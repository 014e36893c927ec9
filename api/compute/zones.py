"""Nova's availability zones (``/os-availability-zone``, ``openstack availability zone
list --compute``), and the zone a server create asks for.

Each host reports its zone (``NIMBUS_AVAILABILITY_ZONE``, ``nova`` unless set). A zone is
available while one of its hosts is enabled; the detail view (admins) names each host's
``nova-compute`` service with its state. A create's ``availability_zone`` is ``ZONE``,
``ZONE:HOST`` or ``ZONE:HOST:NODE`` (a host only for admins; the server is then built
there, as Nova's forced host is); an unavailable zone is a 400.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from api import deps
from api.compute import bp
from api.context import RequestContext, current
from api.policy import authorize
from api.timefmt import iso
from nimbus.db import Host, utcnow
from nimbus.errors import InvalidSpec
from nimbus.scheduler import is_up


def _hosts() -> list[Host]:
    with deps.db().session() as s:
        return list(s.scalars(select(Host).order_by(Host.availability_zone, Host.name)))


def _zones(hosts: list[Host]) -> dict[str, bool]:
    """Each zone, and whether it is available (one of its hosts is enabled)."""
    zones: dict[str, bool] = {}
    for host in hosts:
        zones[host.availability_zone] = zones.get(host.availability_zone, False) or (
            not host.disabled
        )
    return zones


@bp.get("/v2.1/os-availability-zone")
def list_zones() -> Response:
    authorize(current(), "compute:availability_zones:list")
    info = [
        {"zoneName": name, "zoneState": {"available": available}, "hosts": None}
        for name, available in _zones(_hosts()).items()
    ]
    return jsonify({"availabilityZoneInfo": info})


@bp.get("/v2.1/os-availability-zone/detail")
def list_zones_detail() -> Response:
    authorize(current(), "compute:availability_zones:detail")
    hosts = _hosts()
    now = utcnow()
    info = []
    for name, available in _zones(hosts).items():
        services: dict[str, Any] = {}
        for host in hosts:
            if host.availability_zone == name:
                services[host.name] = {
                    "nova-compute": {
                        "available": is_up(host.heartbeat_at, host.forced_down, now),
                        "active": not host.disabled,
                        "updated_at": iso(host.heartbeat_at),
                    }
                }
        info.append({"zoneName": name, "zoneState": {"available": available}, "hosts": services})
    return jsonify({"availabilityZoneInfo": info})


def requested_zone(spec: dict[str, Any], ctx: RequestContext) -> tuple[str | None, str | None]:
    """A create's zone and forced host: ``(None, None)`` when it asks for neither."""
    raw = spec.get("availability_zone")
    if raw is None:
        return None, None
    if not isinstance(raw, str) or not 1 <= len(raw) <= 255:
        raise InvalidSpec("Invalid input for field/attribute availability_zone.")
    zone, _, rest = raw.partition(":")
    host = rest.split(":", 1)[0] or None
    hosts = _hosts()
    if zone and not _zones(hosts).get(zone, False):
        raise InvalidSpec("The requested availability zone is not available")
    if host is not None:
        authorize(ctx, "compute:servers:create:requested_destination")
        if host not in {h.name for h in hosts if not zone or h.availability_zone == zone}:
            raise InvalidSpec(f"Compute host {host} could not be found.")
    return zone or None, host
