"""Nova's multiple create: ``min_count``/``max_count`` on one POST /servers.

Nova makes as many servers as the quota allows up to ``max_count``, refuses the request
if that is fewer than ``min_count``, and names them ``<name>-<n>`` (its default
``multi_instance_display_name_template``). The servers of one request share a
``reservation_id``, which the list filters on and ``return_reservation_id`` returns.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from api import quotas
from api.compute.server_ports import NicRequest
from api.validation import digits
from nimbus.db import Flavor
from nimbus.errors import InvalidSpec, QuotaExceeded


def _count(spec: dict[str, Any], key: str, default: int) -> int:
    value = spec.get(key, default)
    if value is None:
        return default
    if digits(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidSpec(f"Invalid input for field/attribute {key}: must be an integer >= 1.")
    return value


def counts(spec: dict[str, Any]) -> tuple[int, int]:
    """``(min_count, max_count)`` of a create body; 400 when they are not 1 <= min <= max."""
    low = _count(spec, "min_count", 1)
    high = _count(spec, "max_count", low)
    if low > high:
        raise InvalidSpec("min_count must be <= max_count")
    return low, high


def reject_ports_with_many(networks: list[NicRequest] | str, high: int) -> None:
    """Nova refuses a port id with more than one server: a port has one device."""
    if high > 1 and not isinstance(networks, str) and any(n.port_id for n in networks):
        raise InvalidSpec("Multiple instances cannot be created with a port.")


def fit(s: Session, project_id: str, flavor: Flavor, low: int, high: int) -> int:
    """Take the quota lock and return the most servers (``low``..``high``) that fit; the
    refusal for ``low`` when not even those fit."""
    quotas.lock(s, project_id)
    for n in range(high, low - 1, -1):
        try:
            quotas.check(s, project_id, _amounts(flavor, n))
        except QuotaExceeded:
            if n == low:
                raise
            continue
        return n
    raise AssertionError("unreachable: the loop returns or raises at low")


def _amounts(flavor: Flavor, n: int) -> dict[str, int]:
    return {"instances": n, "cores": flavor.vcpus * n, "ram": flavor.ram * n}


def names(name: str, n: int) -> list[str]:
    """One name per server: the name itself for one, ``<name>-1``.. for several."""
    return [name] if n == 1 else [f"{name}-{i}" for i in range(1, n + 1)]


def reservation_id() -> str:
    """Nova's shape: ``r-`` and eight characters."""
    return "r-" + secrets.token_hex(4)
