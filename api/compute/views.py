"""How a server looks in Nova's v2.1 responses."""

from __future__ import annotations

import hashlib
from typing import Any

from api import deps
from api.compute.addresses import server_addresses, server_security_groups
from api.compute.flavors import flavor_links
from api.context import RequestContext
from api.microversion import at_least
from api.policy import allowed
from api.timefmt import iso
from nimbus.db import Host, Server, server_attachments, utcnow
from nimbus.db_compute import ServerGroupMember, server_extra_specs, server_flavor
from nimbus.scheduler import is_up
from workflows.server import hostname

#: Nova's vm_state for each status.
_VM_STATE = {
    "BUILD": "building",
    "ACTIVE": "active",
    "SHUTOFF": "stopped",
    "PAUSED": "paused",
    "SUSPENDED": "suspended",
    "ERROR": "error",
    "DELETED": "deleted",
    # Statuses Nova derives from a task on an active server.
    "REBOOT": "active",
    "HARD_REBOOT": "active",
    "REBUILD": "active",
    "RESIZE": "active",
    "VERIFY_RESIZE": "resized",
    "REVERT_RESIZE": "resized",
}


def server_links(server_id: str) -> list[dict[str, str]]:
    base = deps.settings().public_url + "/compute"
    return [
        {"rel": "self", "href": f"{base}/v2.1/servers/{server_id}"},
        {"rel": "bookmark", "href": f"{base}/servers/{server_id}"},
    ]


def _image_links(image_id: str) -> list[dict[str, str]]:
    return [{"rel": "bookmark", "href": f"{deps.settings().public_url}/compute/images/{image_id}"}]


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: a hash of project and host, so tenants can tell co-location apart
    without learning host names ("" without a host)."""
    return hashlib.sha224((project_id + host).encode()).hexdigest() if host else ""


def _host_status(server: Server) -> str:
    """Nova's host_status (2.16): UP while the host's agent heartbeats, DOWN once it has
    missed a minute, UNKNOWN for a host never registered, "" for a server on no host.
    MAINTENANCE (Nova's for a disabled compute service) is not reported yet."""
    if not server.host:
        return ""
    with deps.db().session() as s:
        host = s.get(Host, server.host)
    if host is None:
        return "UNKNOWN"
    return "UP" if is_up(host.heartbeat_at, host.forced_down, utcnow()) else "DOWN"


def _volumes_attached(server_id: str) -> list[dict[str, str]]:
    with deps.db().session() as s:
        return [{"id": a.volume_id} for a in server_attachments(s, server_id)]


def _image(server: Server) -> dict[str, Any] | str:
    """Nova shows a volume-backed server's image as the empty string."""
    if server.root_volume:
        return ""
    return {"id": server.image_id, "links": _image_links(server.image_id)}


def _extended_attributes(server: Server) -> dict[str, Any]:
    """What an admin sees from 2.3 on (Nova's extended server attributes)."""
    return {
        "OS-EXT-SRV-ATTR:reservation_id": server.reservation_id,
        "OS-EXT-SRV-ATTR:launch_index": 0,
        "OS-EXT-SRV-ATTR:hostname": hostname(server.name),
        "OS-EXT-SRV-ATTR:kernel_id": "",
        "OS-EXT-SRV-ATTR:ramdisk_id": "",
        "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
        "OS-EXT-SRV-ATTR:user_data": server.user_data,
    }


def _flavor(server: Server) -> dict[str, Any]:
    """The flavor by reference, or from 2.47 its details as the server was built with."""
    if not at_least("2.47"):
        return {"id": server.flavor_id, "links": flavor_links(server.flavor_id)}
    with deps.db().session() as s:
        flavor = server_flavor(s, server.id, server.flavor_id)
        extra_specs = server_extra_specs(s, server.id, server.flavor_id)
    if flavor is None:  # only if its flavor went before copies were kept
        return {"original_name": server.flavor_id}
    return {
        "extra_specs": extra_specs,
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap or 0,
        "original_name": flavor.name,
    }


def full(server: Server, ctx: RequestContext) -> dict[str, Any]:
    """One server as show, update and rebuild answer: the detail view and, from 2.71, the
    server groups it is in."""
    view = detail(server, ctx)
    if at_least("2.71"):
        with deps.db().session() as s:
            member = s.get(ServerGroupMember, server.id)
            view["server_groups"] = [member.group_id] if member is not None else []
    return view


def brief(server: Server) -> dict[str, Any]:
    return {"id": server.id, "name": server.name, "links": server_links(server.id)}


def detail(server: Server, ctx: RequestContext) -> dict[str, Any]:
    """The full server, with the extension fields the OpenStack clients print."""
    view: dict[str, Any] = {
        **brief(server),
        "status": server.status,
        "tenant_id": server.project_id,
        "user_id": server.user_id,
        "metadata": server.metadata_ or {},
        "hostId": host_id(server.project_id, server.host),
        "image": _image(server),
        "flavor": _flavor(server),
        "created": iso(server.created_at),
        "updated": iso(server.updated_at),
        "addresses": server_addresses(server.id),
        "accessIPv4": "",
        "accessIPv6": "",
        "key_name": server.key_name,
        "config_drive": "True",
        "progress": 100 if server.status == "ACTIVE" else 0,
        "security_groups": server_security_groups(server.id),
        "OS-DCF:diskConfig": "MANUAL",
        # The zone asked for, or the placed host's; none while it is being scheduled.
        "OS-EXT-AZ:availability_zone": server.availability_zone or "",
        "OS-EXT-STS:vm_state": _VM_STATE.get(server.status, "error"),
        "OS-EXT-STS:task_state": server.task_state,
        "OS-EXT-STS:power_state": server.power_state,
        "OS-SRV-USG:launched_at": iso(server.launched_at),
        "OS-SRV-USG:terminated_at": iso(server.deleted_at),
        "os-extended-volumes:volumes_attached": _volumes_attached(server.id),
    }
    if allowed(ctx, "compute:servers:show_host"):
        view["OS-EXT-SRV-ATTR:host"] = server.host
        view["OS-EXT-SRV-ATTR:hypervisor_hostname"] = server.host
        view["OS-EXT-SRV-ATTR:instance_name"] = deps.settings().instance_prefix + server.id
        if at_least("2.3"):
            view.update(_extended_attributes(server))
    if at_least("2.9"):
        view["locked"] = bool(server.locked)
    if at_least("2.19"):
        view["description"] = server.description
    if at_least("2.26"):
        view["tags"] = list(server.tags or [])
    if at_least("2.63"):
        view["trusted_image_certificates"] = None  # Nimbus verifies no image signatures
    if at_least("2.73"):
        view["locked_reason"] = server.locked_reason if server.locked else None
    if at_least("2.16") and allowed(ctx, "compute:servers:show_host_status"):
        view["host_status"] = _host_status(server)
    if server.status == "ERROR" and server.fault:
        view["fault"] = server.fault
    return view
