"""What a server create request may carry at each microversion, as Nova's create schema
(``nova/api/openstack/compute/schemas/servers.py``) has it: a key the request's version
does not know is refused with 400, never ignored.

The version-bound keys: ``description`` from 2.19, ``tags`` from 2.52,
``trusted_image_certificates`` from 2.63, ``host``/``hypervisor_hostname`` from 2.74, and
``personality`` until 2.56. A network entry takes ``tag`` from 2.32 to 2.36 and again from
2.42 (2.37 lost it to a bug that 2.42 fixed), a block device mapping only at 2.32 and from
2.42, and ``volume_type`` from 2.67.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from api import deps
from api.context import RequestContext
from api.microversion import at_least
from api.policy import authorize
from nimbus.db import Host
from nimbus.errors import InvalidSpec

_SERVER_KEYS = {
    "name",
    "imageRef",
    "flavorRef",
    "adminPass",
    "metadata",
    "networks",
    "OS-DCF:diskConfig",
    "accessIPv4",
    "accessIPv6",
    "availability_zone",
    "block_device_mapping",
    "block_device_mapping_v2",
    "config_drive",
    "key_name",
    "min_count",
    "max_count",
    "return_reservation_id",
    "security_groups",
    "user_data",
}
_SINCE = {
    "description": "2.19",
    "tags": "2.52",
    "trusted_image_certificates": "2.63",
    "host": "2.74",
    "hypervisor_hostname": "2.74",
}
_BODY_KEYS = {"server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"}

#: Nova's limit on a device tag (``parameter_types.tag``): no ``/`` or ``,``.
TAG_MAX = 60


def unexpected(keys: set[str]) -> InvalidSpec:
    names = ", ".join(f"'{k}'" for k in sorted(keys))
    verb = "were" if len(keys) > 1 else "was"
    return InvalidSpec(f"Additional properties are not allowed ({names} {verb} unexpected)")


def check_keys(body: dict[str, Any], spec: dict[str, Any]) -> None:
    """400 for a key this request's microversion does not know."""
    extra = set(body) - _BODY_KEYS
    if extra:
        raise unexpected(extra)
    known = set(_SERVER_KEYS)
    known |= {key for key, since in _SINCE.items() if at_least(since)}
    if not at_least("2.57"):
        known.add("personality")
    extra = set(spec) - known
    if extra:
        raise unexpected(extra)
    if at_least("2.37") and "networks" not in spec:
        raise InvalidSpec("'networks' is a required property")


def network_tag_allowed() -> bool:
    return at_least("2.32") and not at_least("2.37") or at_least("2.42")


def bdm_tag_allowed() -> bool:
    return at_least("2.32") and not at_least("2.33") or at_least("2.42")


def device_tag(item: dict[str, Any], allowed: bool) -> str | None:
    """An entry's ``tag`` (Nova's ``parameter_types.tag``), where the version takes one."""
    if "tag" not in item:
        return None
    if not allowed:
        raise unexpected({"tag"})
    value = item["tag"]
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= TAG_MAX or "/" in value or "," in value:
        raise InvalidSpec(
            f"Invalid input for field/attribute tag: a tag is 1 to {TAG_MAX} characters"
            " without '/' or ','."
        )
    return value


def strict_uuid(value: str, label: str) -> str:
    """From 2.37 a network's ``uuid`` must be a UUID."""
    if at_least("2.37"):
        try:
            uuid.UUID(value)
        except ValueError:
            raise InvalidSpec(
                f"Invalid input for field/attribute {label}. Value: {value}. '{value}' is not"
                " a 'uuid'"
            ) from None
    return value


def trusted_certificates(spec: dict[str, Any]) -> None:
    """2.63's ``trusted_image_certificates``: Nimbus does not verify image signatures, so
    certificate ids it could not honour are refused rather than ignored."""
    value = spec.get("trusted_image_certificates")
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidSpec(
            "Invalid input for field/attribute trusted_image_certificates: a list of ids."
        )
    if value:
        raise InvalidSpec(
            "Image signature verification is not enabled on this cloud:"
            " trusted_image_certificates cannot be honoured."
        )


def requested_host(spec: dict[str, Any], ctx: RequestContext) -> str | None:
    """2.74's ``host`` / ``hypervisor_hostname`` (admins only): a registered compute host,
    where the server is then built. In Nimbus a host is its own hypervisor, so when both
    are given they must name the same one."""
    host, node = spec.get("host"), spec.get("hypervisor_hostname")
    if host is None and node is None:
        return None
    authorize(ctx, "compute:servers:create:requested_destination")
    for label, value in (("host", host), ("hypervisor_hostname", node)):
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 255):
            raise InvalidSpec(f"Invalid input for field/attribute {label}.")
    if host is not None and node is not None and host != node:
        raise InvalidSpec(f"Compute host {host} has no hypervisor {node}.")
    name = str(host or node)
    with deps.db().session() as s:
        known = s.scalars(select(Host.name).where(Host.name == name)).first()
    if known is None:
        label = "Compute host" if host is not None else "Hypervisor"
        raise InvalidSpec(f"{label} {name} could not be found.")
    return name
