"""The server list's query string, checked as Nova's ``index_query`` schemas and
``_get_servers`` check it, per microversion.

Unknown parameters are ignored until 2.75 and refused from it; a filter on a joined table
or a name starting with ``_`` is always refused. An unknown ``status`` lists nothing until
2.38 and is refused from it. ``changes-since`` (and from 2.66 ``changes-before``) filter
on the last change and include deleted servers, as Nova's do; ``locked`` filters from 2.73.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from api.errors import Forbidden
from api.microversion import at_least
from nimbus.errors import InvalidSpec

#: Nova's ``index_query`` properties (v2.1).
_KNOWN = {
    "user_id",
    "project_id",
    "tenant_id",
    "launch_index",
    "image_ref",
    "image",
    "kernel_id",
    "ramdisk_id",
    "hostname",
    "key_name",
    "power_state",
    "vm_state",
    "task_state",
    "host",
    "node",
    "flavor",
    "reservation_id",
    "launched_at",
    "terminated_at",
    "availability_zone",
    "name",
    "display_name",
    "description",
    "display_description",
    "locked_by",
    "uuid",
    "root_device_name",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "sort_key",
    "sort_dir",
    "all_tenants",
    "soft_deleted",
    "deleted",
    "status",
    "changes-since",
    "ip",
    "ip6",
    "created_at",
    "limit",
    "marker",
    # What every OpenStack list takes, that openstacksdk and the CLI send.
    "all_projects",
}
_SINCE = {
    "tags": "2.26",
    "tags-any": "2.26",
    "not-tags": "2.26",
    "not-tags-any": "2.26",
    "changes-before": "2.66",
    "locked": "2.73",
}
#: Filters on Nova's joined tables: always refused.
_JOINED = {
    "block_device_mapping",
    "services",
    "metadata",
    "system_metadata",
    "info_cache",
    "security_groups",
    "pci_devices",
}
#: The statuses Nova knows (``nova.api.openstack.common._STATE_MAP``).
STATUSES = {
    "ACTIVE",
    "BUILD",
    "DELETED",
    "ERROR",
    "HARD_REBOOT",
    "MIGRATING",
    "PASSWORD",
    "PAUSED",
    "REBOOT",
    "REBUILD",
    "RESCUE",
    "RESIZE",
    "REVERT_RESIZE",
    "SHELVED",
    "SHELVED_OFFLOADED",
    "SHUTOFF",
    "SOFT_DELETED",
    "SUSPENDED",
    "UNKNOWN",
    "VERIFY_RESIZE",
}
_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


@dataclass(frozen=True)
class ListQuery:
    """What the filters ask for, beyond the simple equality ones."""

    statuses: frozenset[str] | None = None
    #: An unknown status below 2.38: the list is empty.
    nothing: bool = False
    since: dt.datetime | None = None
    before: dt.datetime | None = None
    locked: bool | None = None

    @property
    def with_deleted(self) -> bool:
        return self.since is not None or self.before is not None or self.statuses == {"DELETED"}


def parse(args: Any, is_admin: bool) -> ListQuery:
    """Check the query string; 400 for what Nova refuses at this version."""
    for name in args:
        if name in _JOINED or name.startswith("_"):
            raise InvalidSpec(f"Invalid filter field: {name}.")
    if at_least("2.75"):
        known = _KNOWN | {name for name, since in _SINCE.items() if at_least(since)}
        extra = sorted(set(args) - known)
        if extra:
            raise InvalidSpec(
                "Invalid input for query parameters "
                + ", ".join(extra)
                + ". Additional properties are not allowed."
            )
    statuses, nothing = _statuses(args.getlist("status"), is_admin)
    since = _time(args.get("changes-since"), "changes-since")
    before = _time(args.get("changes-before"), "changes-before") if at_least("2.66") else None
    if since and before and before < since:
        raise InvalidSpec(
            "The value of changes-since must be less than or equal to changes-before."
        )
    locked = _flag(args.get("locked")) if at_least("2.73") else None
    return ListQuery(statuses, nothing, since, before, locked)


def _statuses(values: list[str], is_admin: bool) -> tuple[frozenset[str] | None, bool]:
    wanted = {v.upper() for v in values if v}
    if not wanted:
        return None, False
    if not wanted & STATUSES:
        if at_least("2.38"):
            raise InvalidSpec("Invalid status value")
        return None, True
    if wanted == {"DELETED"} and not is_admin:
        raise Forbidden("Only administrators may list deleted instances")
    return frozenset(wanted & STATUSES), False


def _time(value: str | None, label: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(f"Invalid filter field: {label}.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    accepted = ", ".join(f"'{v}'" for v in sorted(_TRUE | _FALSE))
    raise InvalidSpec(f"Unrecognized value '{value}', acceptable values are: {accepted}")
