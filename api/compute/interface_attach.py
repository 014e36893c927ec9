"""Nova's ``os-interface`` writes: attach a port or a network to a server that exists
(``POST /servers/{id}/os-interface``), and detach it (``DELETE .../os-interface/{port}``).

The port is claimed for the server (``port_id``) or made for it on the network
(``net_id``, deleted again on detach, as Nova deletes the ports it made) in one
transaction, before the workflow plugs it in. Nova answers an attach once the NIC is in,
with the attachment; a detach is answered at once with 202.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify
from sqlalchemy.orm import Session

from api import deps, quotas
from api.bridge import started_workflows
from api.compute import bp
from api.compute.create_schema import device_tag
from api.compute.interfaces import attachment
from api.compute.lock_reboot import check_unlocked
from api.compute.server_ports import auto_network
from api.compute.servers import load_server
from api.context import RequestContext, current
from api.errors import Forbidden
from api.microversion import at_least
from api.network import faults
from api.network.access import find_network, find_port
from api.network.allocate import IpRequest, add_port
from api.network.common import is_admin, transaction
from api.network.security_groups import ensure_default
from api.policy import authorize
from api.validation import json_body
from nimbus import ipam
from nimbus.db import Server
from nimbus.db_network import OWNER_COMPUTE, Port, delete_port_rows
from nimbus.errors import BackendUnavailable, Conflict, InvalidSpec, NotFound
from workflows import starter
from workflows.common import server_workflow_id
from workflows.server_interface import InterfaceInput

ATTACH_WAIT_SECONDS = 120

#: Nova's ``check_instance_state`` for attach and detach: a server that exists and has no
#: task in flight (a stopped or suspended one only has its definition changed).
PLUGGABLE = ("ACTIVE", "PAUSED", "SHUTOFF", "SUSPENDED")

_KEYS = {"port_id", "net_id", "fixed_ips"}


@dataclass(frozen=True)
class AttachRequest:
    """``interfaceAttachment`` as Nova's schema takes it."""

    port_id: str | None
    net_id: str | None
    fixed_ip: str | None
    #: The device tag (2.49), shown from 2.70.
    tag: str | None = None


def parse_attach(body: dict[str, Any]) -> AttachRequest:
    """``interfaceAttachment`` as Nova's schema takes it (``tag`` from 2.49)."""
    if set(body) - {"interfaceAttachment"}:
        raise InvalidSpec("Additional properties are not allowed.")
    spec = body.get("interfaceAttachment", {})
    keys = _KEYS | {"tag"} if at_least("2.49") else _KEYS
    if not isinstance(spec, dict) or set(spec) - keys:
        raise InvalidSpec("Invalid input for field/attribute interfaceAttachment.")
    port_id, net_id = spec.get("port_id"), spec.get("net_id")
    for name, value in (("port_id", port_id), ("net_id", net_id)):
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidSpec(f"Invalid input for field/attribute {name}.")
    fixed_ip = _fixed_ip(spec.get("fixed_ips"))
    if port_id and net_id:
        raise InvalidSpec("Must not input both network_id and port_id")
    if fixed_ip and not net_id:
        raise InvalidSpec("Must input network_id when request IP address")
    return AttachRequest(port_id, net_id, fixed_ip, device_tag(spec, True))


def _fixed_ip(raw: Any) -> str | None:
    """At most one ``{"ip_address": ...}``, as Nova's schema allows."""
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or len(raw) != 1
        or not isinstance(raw[0], dict)
        or set(raw[0]) != {"ip_address"}
    ):
        raise InvalidSpec("Invalid input for field/attribute fixed_ips.")
    return str(ipam.parse_ip(raw[0]["ip_address"], "ip_address"))


def check_pluggable(server: Server, action: str) -> None:
    """409 unless the server is in a state Nova attaches and detaches interfaces in."""
    if server.status not in PLUGGABLE or server.task_state is not None or not server.host:
        raise Conflict(
            f"Cannot '{action}' instance {server.id} while it is in vm_state"
            f" {server.status.lower()}, task_state {server.task_state}"
        )


def _claim(s: Session, server_id: str, port_id: str, ctx: RequestContext) -> Port:
    port = find_port(s, port_id, ctx)
    if port.project_id != ctx.project_id and not is_admin(ctx):
        raise Forbidden(f"Port {port_id} belongs to another project.")
    if port.device_id or port.device_owner:
        raise faults.PortInUse(f"Port {port_id} is still in use.")
    port.device_id, port.device_owner = server_id, OWNER_COMPUTE
    return port


def _make(
    s: Session, server: Server, net_id: str | None, fixed_ip: str | None, ctx: RequestContext
) -> Port:
    if net_id is None:
        found = auto_network(s, ctx)
        if not found:
            raise InvalidSpec("No network is available to attach the interface to.")
        net_id = str(found[0].network_id)
    network = find_network(s, net_id, ctx)
    if network.external and not network.shared:
        raise InvalidSpec(f"Network {network.id} is external: attach a floating IP instead.")
    if network.status != "ACTIVE":
        raise Conflict(f"Network {network.id} is {network.status}.")
    quotas.check(s, server.project_id, {"port": 1})
    return add_port(
        s,
        network,
        server.project_id,
        [IpRequest(ip_address=fixed_ip)] if fixed_ip else None,
        device_id=server.id,
        device_owner=OWNER_COMPUTE,
        security_group_ids=[ensure_default(server.project_id)],
        auto_delete=True,
    )


def claim_interface(server: Server, asked: AttachRequest, ctx: RequestContext) -> str:
    """Claim the port, or make one on the network, for the server; its id."""
    ensure_default(server.project_id)  # before the quota lock below (see claim_ports)

    def write(s: Session) -> str:
        quotas.lock(s, server.project_id)
        if asked.port_id:
            port = _claim(s, server.id, asked.port_id, ctx)
        else:
            port = _make(s, server, asked.net_id, asked.fixed_ip, ctx)
        port.device_tag = asked.tag
        s.flush()
        return port.id

    return transaction(write)


def unclaim(server_id: str, port_id: str) -> None:
    """Undo ``claim_interface`` for an attach whose workflow never started."""
    with deps.db().session() as s:
        port = s.get(Port, port_id)
        if port is None or port.device_id != server_id:
            return
        if port.auto_delete:
            delete_port_rows(s, port.id)
        else:
            port.device_id, port.device_owner = "", ""


@bp.post("/v2.1/servers/<server_id>/os-interface")
def attach_interface(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:interfaces")
    asked = parse_attach(json_body())
    server = load_server(server_id, ctx)
    check_unlocked(server, ctx)
    check_pluggable(server, "attach_interface")
    claimed = claim_interface(server, asked, ctx)
    inp = InterfaceInput(server.id, claimed)
    try:
        deps.bridge().run(
            lambda c: starter.attach_interface(c, server.project_id, inp),
            timeout=ATTACH_WAIT_SECONDS,
        )
    except BackendUnavailable:
        wid = server_workflow_id(server.id, f"attach-interface-{claimed}")
        if wid not in started_workflows():
            unclaim(server.id, claimed)
        raise
    with deps.db().session() as s:
        port = s.get(Port, claimed)
        if port is None:
            raise NotFound(f"Port {claimed} is gone.")
        return jsonify({"interfaceAttachment": attachment(s, port)})


@bp.delete("/v2.1/servers/<server_id>/os-interface/<port_id>")
def detach_interface(server_id: str, port_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "compute:servers:interfaces")
    server = load_server(server_id, ctx)
    with deps.db().session() as s:
        port = s.get(Port, port_id)
        if port is None or port.device_id != server.id:
            raise NotFound(f"Port {port_id} is not attached to server {server_id}.")
        if port.status != "ACTIVE":  # its attach (or an earlier detach) still runs
            raise Conflict(f"Port {port_id} is {port.status}: try again in a moment.")
    check_unlocked(server, ctx)
    check_pluggable(server, "detach_interface")
    inp = InterfaceInput(server.id, port_id)
    deps.bridge().run(lambda c: starter.detach_interface(c, server.project_id, inp))
    return "", 202
