"""Nova's ``os-hypervisors`` (``openstack hypervisor list/show``, the dashboards' usage
pages): one hypervisor per compute host that registered itself (``hosts``), admins only.

A host's vCPUs and memory are what its worker found; what is used is what the flavors of
the servers placed on it take (the servers' own copies of their flavors, as Nova's
resource tracker counts). Disks live in Ceph, not on the host: ``local_gb`` and its
companions are 0, and Ceph's capacity is read from Ceph (its metrics). The state is up
while the host's worker beats; it is disabled when an admin disabled its compute service
(``api.compute.services``). From 2.53 a hypervisor's id is a UUID (derived from its host
name, so it is stable), before that an integer; from 2.33 the list pages with ``limit``
and ``marker``; from 2.53 ``hypervisor_hostname_pattern`` filters it and ``with_servers``
lists each one's servers.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import deps
from api.compute import bp
from api.compute.services import service_id
from api.context import current
from api.microversion import at_least
from api.policy import authorize
from api.validation import check_query, digits, next_links
from nimbus.db import Host, Server, utcnow
from nimbus.db_compute import server_flavor
from nimbus.errors import InvalidSpec, NotFound
from nimbus.scheduler import is_up

#: What Nova reports for a libvirt host running QEMU.
HYPERVISOR_TYPE = "QEMU"


def hypervisor_id(name: str) -> str | int:
    """The host's hypervisor id at the request's microversion."""
    if at_least("2.53"):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nimbus-hypervisor/{name}"))
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def _state(host: Host, now: dt.datetime) -> str:
    return "up" if is_up(host.heartbeat_at, host.forced_down, now) else "down"


def _servers_on(s: Session, name: str) -> list[Server]:
    query = select(Server).where(Server.host == name, Server.deleted_at.is_(None))
    return list(s.scalars(query.order_by(Server.created_at, Server.id)))


def _view(s: Session, host: Host, detail: bool, now: dt.datetime) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": hypervisor_id(host.name),
        "hypervisor_hostname": host.name,
        "state": _state(host, now),
        "status": "disabled" if host.disabled else "enabled",
    }
    servers = _servers_on(s, host.name)
    if detail:
        vcpus = ram = 0
        for server in servers:
            flavor = server_flavor(s, server.id, server.flavor_id)
            if flavor is not None:
                vcpus, ram = vcpus + flavor.vcpus, ram + flavor.ram
        view.update(
            {
                "vcpus": host.vcpus,
                "memory_mb": host.memory_mib,
                "local_gb": 0,
                "vcpus_used": vcpus,
                "memory_mb_used": ram,
                "local_gb_used": 0,
                "hypervisor_type": HYPERVISOR_TYPE,
                "hypervisor_version": 0,
                "free_ram_mb": host.memory_mib - ram,
                "free_disk_gb": 0,
                "current_workload": sum(1 for srv in servers if srv.task_state),
                "running_vms": len(servers),
                "cpu_info": {} if at_least("2.28") else "{}",
                "disk_available_least": 0,
                "host_ip": host.vtep_address or "",
                "service": {
                    "host": host.name,
                    "id": service_id(host.name),
                    "disabled_reason": host.disabled_reason,
                },
            }
        )
    if at_least("2.53") and request.args.get("with_servers", "").lower() in ("1", "true"):
        view["servers"] = [{"name": srv.name, "uuid": srv.id} for srv in servers]
    return view


def _hosts(s: Session) -> list[Host]:
    return list(s.scalars(select(Host).order_by(Host.name)))


def _listing(detail: bool) -> Response:
    authorize(current(), "compute:hypervisors:list")
    if at_least("2.53"):  # Nova's query schema from 2.53 takes nothing else
        check_query({"limit", "marker", "hypervisor_hostname_pattern", "with_servers"})
    pattern = request.args.get("hypervisor_hostname_pattern")
    now = utcnow()
    with deps.db().session() as s:
        hosts = _hosts(s)
        if pattern is not None:
            hosts = [h for h in hosts if pattern in h.name]
            if not hosts:
                raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
        hosts = _page(hosts)
        views = [_view(s, host, detail, now) for host in hosts]
    body: dict[str, Any] = {"hypervisors": views}
    links = next_links(len(views), str(views[-1]["id"]) if views else None)
    if links:
        body["hypervisors_links"] = links
    return jsonify(body)


def _page(hosts: list[Host]) -> list[Host]:
    """2.33's paging: after the host whose id is ``marker``, at most ``limit``."""
    if not at_least("2.33"):
        return hosts
    marker, limit = request.args.get("marker"), request.args.get("limit")
    if marker is not None:
        ids = [str(hypervisor_id(h.name)) for h in hosts]
        if marker not in ids:
            raise InvalidSpec(f"marker [{marker}] not found")
        hosts = hosts[ids.index(marker) + 1 :]
    if limit is not None:
        if not digits(limit):
            raise InvalidSpec(f"Invalid input for query parameters limit. Value: {limit}.")
        hosts = hosts[: int(limit)]
    return hosts


@bp.get("/v2.1/os-hypervisors")
def list_hypervisors() -> Response:
    return _listing(detail=False)


@bp.get("/v2.1/os-hypervisors/detail")
def list_hypervisors_detail() -> Response:
    return _listing(detail=True)


@bp.get("/v2.1/os-hypervisors/<hypervisor>/uptime")
def hypervisor_uptime(hypervisor: str) -> tuple[Response, int]:
    """What Nova answers when its driver cannot tell a host's uptime: the API does not
    run on the hosts (``openstack hypervisor show`` goes on without it)."""
    authorize(current(), "compute:hypervisors:show")
    with deps.db().session() as s:
        if not any(str(hypervisor_id(h.name)) == hypervisor for h in _hosts(s)):
            raise NotFound(f"Hypervisor with ID {hypervisor} could not be found.")
    message = "Virt driver does not implement host uptime function."
    return jsonify({"NotImplemented": {"code": 501, "message": message}}), 501


@bp.get("/v2.1/os-hypervisors/<hypervisor>")
def show_hypervisor(hypervisor: str) -> Response:
    authorize(current(), "compute:hypervisors:show")
    if at_least("2.53"):
        check_query({"with_servers"})
    with deps.db().session() as s:
        for host in _hosts(s):
            if str(hypervisor_id(host.name)) == hypervisor:
                return jsonify({"hypervisor": _view(s, host, True, utcnow())})
    raise NotFound(f"Hypervisor with ID {hypervisor} could not be found.")
