"""The attributes of a port a request may set, checked, and a port update applied and
(if its workflow cannot run) undone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext
from api.network import faults
from api.network.access import find_group
from api.network.allocate import choose_ips, parse_fixed_ips
from api.network.common import bool_field, is_admin, text_field
from api.network.security_groups import ensure_default
from api.policy import authorize
from nimbus.db_network import NETWORK_OWNED, IPAllocation, Port, as_dict
from nimbus.errors import Conflict, InvalidSpec

_UPDATABLE = {
    "name",
    "description",
    "admin_state_up",
    "security_groups",
    "port_security_enabled",
    "device_id",
    "device_owner",
    "fixed_ips",
}
#: What a user may change on a port the network service owns (a router's, DHCP's).
_COSMETIC = {"name", "description", "admin_state_up"}
_SAVED = (
    "name",
    "description",
    "admin_state_up",
    "security_group_ids",
    "port_security_enabled",
    "device_id",
    "device_owner",
)


def check_unsupported(spec: dict[str, Any]) -> None:
    """Refuse port features Nimbus does not offer rather than ignore them."""
    if spec.get("allowed_address_pairs"):
        raise faults.NotSupported("Allowed address pairs are not supported.")
    if spec.get("extra_dhcp_opts"):
        raise faults.NotSupported("Extra DHCP options are not supported.")
    if spec.get("binding:vnic_type") not in (None, "normal"):
        raise faults.NotSupported("Only the 'normal' vnic type is supported.")
    if spec.get("binding:host_id") or spec.get("binding:profile"):
        raise faults.NotSupported("Ports are bound by the compute service, not through the API.")


def check_owner_field(owner: str, ctx: RequestContext) -> None:
    if owner.startswith("network:"):
        authorize(ctx, "network:ports:network_device")


def security_groups(
    s: Session, raw: Any, project_id: str, port_security: bool, ctx: RequestContext
) -> list[str]:
    """The port's groups: those named (each visible to the caller), or the project's
    default group when none are named and port security is on."""
    if raw is None:
        return [ensure_default(project_id)] if port_security else []
    if not isinstance(raw, list) or not all(isinstance(g, str) for g in raw):
        raise InvalidSpec("Invalid input for security_groups: expected a list of ids.")
    if raw and not port_security:
        raise InvalidSpec(
            "Port security must be enabled and port must have an IP address in order to"
            " use security groups."
        )
    return list(dict.fromkeys(find_group(s, g, ctx).id for g in raw))


def snapshot(s: Session, port: Port) -> dict[str, Any]:
    """What an update may change, to put back if its workflow cannot run."""
    allocations = s.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id))
    return {
        **{key: getattr(port, key) for key in _SAVED},
        "id": port.id,
        "project_id": port.project_id,
        "allocations": [as_dict(a) for a in allocations],
    }


def restore(saved: dict[str, Any]) -> None:
    with deps.db().session() as s:
        port = s.get(Port, saved["id"])
        if port is None:
            return
        for key in _SAVED:
            setattr(port, key, saved[key])
        s.execute(delete(IPAllocation).where(IPAllocation.port_id == port.id))
        s.flush()
        s.add_all(IPAllocation(**values) for values in saved["allocations"])


def _replace_ips(s: Session, port: Port, raw: Any) -> None:
    """Give the port the requested addresses instead of its current ones (an address it
    keeps is requested again, and is free again once its own row is gone)."""
    requests = parse_fixed_ips(raw) or []
    s.execute(delete(IPAllocation).where(IPAllocation.port_id == port.id))
    s.flush()
    for subnet_id, ip in choose_ips(s, port.network_id, requests):
        s.add(
            IPAllocation(
                port_id=port.id, subnet_id=subnet_id, network_id=port.network_id, ip_address=ip
            )
        )


def apply_update(s: Session, port: Port, spec: dict[str, Any], ctx: RequestContext) -> bool:
    """Apply ``spec`` to the port; True if its filter, lease or groups must be resynced."""
    unknown = set(spec) - _UPDATABLE
    if unknown:
        raise faults.NotSupported(f"Updating {', '.join(sorted(unknown))} is not supported.")
    if port.device_owner in NETWORK_OWNED and set(spec) - _COSMETIC and not is_admin(ctx):
        raise faults.PortInUse(f"Port {port.id} is owned by {port.device_owner}.")
    before = (list(port.security_group_ids), port.port_security_enabled, port.admin_state_up)
    port.name = text_field(spec, "name", port.name)
    port.description = text_field(spec, "description", port.description)
    port.admin_state_up = bool_field(spec, "admin_state_up", port.admin_state_up)
    if "device_owner" in spec:
        check_owner_field(text_field(spec, "device_owner"), ctx)
        port.device_owner = text_field(spec, "device_owner")
    port.device_id = text_field(spec, "device_id", port.device_id)
    port.port_security_enabled = bool_field(
        spec, "port_security_enabled", port.port_security_enabled
    )
    if "security_groups" in spec:
        groups = spec["security_groups"] or []
        port.security_group_ids = security_groups(
            s, groups, port.project_id, port.port_security_enabled, ctx
        )
    elif port.security_group_ids and not port.port_security_enabled:
        raise Conflict(
            f"Port {port.id} has security groups: remove them before disabling port security."
        )
    if "fixed_ips" in spec:
        _replace_ips(s, port, spec["fixed_ips"])
    after = (list(port.security_group_ids), port.port_security_enabled, port.admin_state_up)
    return before != after or "fixed_ips" in spec
