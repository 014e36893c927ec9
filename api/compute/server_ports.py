"""A new server's ports: made on the networks it names, or claimed from the ports it names.

Nova asks Neutron for these before it schedules; here the rows are written in one
transaction with the networking API's own allocator, and BootServer binds them to the
host it picks. Ports made for the server are deleted with it; claimed ones are handed
back unbound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import deps, quotas
from api.compute import create_schema
from api.context import RequestContext
from api.network.access import find_group, find_network, find_port
from api.network.allocate import IpRequest, add_port
from api.network.common import transaction
from api.network.security_groups import ensure_default
from nimbus import ipam
from nimbus.db_network import OWNER_COMPUTE, Network, Port, delete_port_rows
from nimbus.errors import Conflict, InvalidSpec, NotFound


@dataclass(frozen=True)
class NicRequest:
    """One entry of ``networks``: a network (with an optional fixed IP) or a port."""

    network_id: str | None = None
    port_id: str | None = None
    fixed_ip: str | None = None
    #: The device tag (2.32), that the os-interface views show from 2.70.
    tag: str | None = None


def parse_networks(raw: Any) -> list[NicRequest] | str:
    """``networks`` as Nova takes it: a list of ``{uuid[, fixed_ip]}`` / ``{port}``, or
    ``"auto"`` / ``"none"``; omitted means no network (Nimbus attaches none by itself)."""
    if raw is None or raw == []:
        return "none"
    if raw in ("auto", "none"):
        return str(raw)
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise InvalidSpec("'networks' must be a list of objects, 'auto' or 'none'.")
    requests = []
    for item in raw:
        extra = set(item) - {"uuid", "port", "fixed_ip", "tag"}
        if extra:
            raise create_schema.unexpected(extra)
        tag = create_schema.device_tag(item, create_schema.network_tag_allowed())
        port, network = item.get("port"), item.get("uuid")
        fixed_ip = item.get("fixed_ip")
        if bool(port) == bool(network):
            raise InvalidSpec("Each entry of 'networks' needs exactly one of 'uuid' and 'port'.")
        if not isinstance(network or port, str):
            raise InvalidSpec("Invalid input for field/attribute uuid or port: not a string.")
        if network:
            create_schema.strict_uuid(network, "uuid")
        if fixed_ip is not None:
            if port:
                raise InvalidSpec("'fixed_ip' goes with 'uuid', not with 'port'.")
            fixed_ip = str(ipam.parse_ip(fixed_ip, "fixed_ip"))
        requests.append(NicRequest(network, port, fixed_ip, tag))
    return requests


def auto_network(s: Session, ctx: RequestContext) -> list[NicRequest]:
    """``auto``: the project's one network (its own or shared, never external)."""
    candidates = s.scalars(
        select(Network.id).where(
            Network.external.is_(False),
            (Network.project_id == ctx.project_id) | Network.shared.is_(True),
        )
    ).all()
    if len(candidates) > 1:
        raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
    return [NicRequest(network_id=candidates[0])] if candidates else []


def _group_ids(s: Session, raw: Any, ctx: RequestContext) -> list[str]:
    """``security_groups: [{"name": ...}]`` (names or ids of the caller's groups)."""
    if not raw:
        return [ensure_default(ctx.project_id)]
    if not isinstance(raw, list) or not all(isinstance(g, dict) and g.get("name") for g in raw):
        raise InvalidSpec("'security_groups' must be a list of {'name': ...} objects.")
    ids = []
    for item in raw:
        name = str(item["name"])
        if name == "default":
            ids.append(ensure_default(ctx.project_id))
            continue
        ids.append(_named_group(s, name, ctx))
    return list(dict.fromkeys(ids))


def _named_group(s: Session, name: str, ctx: RequestContext) -> str:
    from nimbus.db_network import SecurityGroup

    found = s.scalars(
        select(SecurityGroup.id).where(
            SecurityGroup.project_id == ctx.project_id, SecurityGroup.name == name
        )
    ).all()
    if len(found) > 1:
        raise Conflict(f"Multiple security groups are named {name}: use its id.")
    if found:
        return found[0]
    try:
        return find_group(s, name, ctx).id
    except NotFound as exc:
        raise InvalidSpec(f"Security group {name} not found.") from exc


def _network_port(
    s: Session, req: NicRequest, server_id: str, groups: list[str], ctx: RequestContext
) -> Port:
    try:
        network = find_network(s, str(req.network_id), ctx)
    except NotFound as exc:
        raise InvalidSpec(f"Network {req.network_id} could not be found.") from exc
    if network.external and not network.shared:
        raise InvalidSpec(f"Network {network.id} is external: attach a floating IP instead.")
    if network.status != "ACTIVE":
        raise Conflict(f"Network {network.id} is {network.status}.")
    ips = [IpRequest(ip_address=req.fixed_ip)] if req.fixed_ip else None
    return add_port(
        s,
        network,
        ctx.project_id,
        ips,
        device_id=server_id,
        device_owner=OWNER_COMPUTE,
        security_group_ids=groups,
        auto_delete=True,
    )


def _claimed_port(s: Session, req: NicRequest, server_id: str, ctx: RequestContext) -> Port:
    try:
        port = find_port(s, str(req.port_id), ctx)
    except NotFound as exc:
        raise InvalidSpec(f"Port {req.port_id} could not be found.") from exc
    if port.project_id != ctx.project_id or port.device_id or port.device_owner:
        raise Conflict(f"Port {port.id} is still in use.")
    port.device_id, port.device_owner = server_id, OWNER_COMPUTE
    return port


def _auto_requests(s: Session, networks: str, ctx: RequestContext) -> list[NicRequest]:
    """``auto`` (2.37): the project's one usable network. Nimbus has no auto-allocated
    topology to make one, so with none to use it answers as Nova does without one."""
    found = auto_network(s, ctx)
    if not found and networks == "auto":
        raise InvalidSpec(
            f"Unable to automatically allocate a network for project {ctx.project_id}"
        )
    return found


def claim_ports(
    server_id: str, networks: list[NicRequest] | str, groups: Any, ctx: RequestContext
) -> list[str]:
    """Make or claim the server's ports, in NIC order, within the project's port quota;
    400 for an unknown network or port, 409 for a port in use or an exhausted subnet."""
    if networks == "none":
        return []
    # Made now, outside the transaction below: that one holds the quota lock (the
    # database's write lock on SQLite), so a second session must not write inside it.
    ensure_default(ctx.project_id)

    def write(s: Session) -> list[str]:
        quotas.lock(s, ctx.project_id)
        requests = networks if isinstance(networks, list) else _auto_requests(s, networks, ctx)
        quotas.check(s, ctx.project_id, {"port": sum(1 for r in requests if not r.port_id)})
        group_ids = _group_ids(s, groups, ctx) if requests else []
        made = []
        for req in requests:
            if req.port_id:
                port = _claimed_port(s, req, server_id, ctx)
            else:
                port = _network_port(s, req, server_id, group_ids, ctx)
            port.device_tag = req.tag
            made.append(port.id)
        s.flush()
        return made

    return transaction(write)


def release_claimed(server_id: str) -> None:
    """Undo ``claim_ports`` for a server whose boot never started."""
    with deps.db().session() as s:
        ports = s.scalars(select(Port).where(Port.device_id == server_id)).all()
        for port in ports:
            if port.auto_delete:
                delete_port_rows(s, port.id)
            else:
                port.device_id, port.device_owner = "", ""
