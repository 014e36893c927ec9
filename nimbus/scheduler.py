"""Where a server goes: Nova's filter scheduler, over the hosts' rows.

Each host reports its vCPUs and memory, the allocation ratios it takes, the memory it
keeps for itself, its availability zone, and its heartbeat; an admin may disable it.
A request asks for a flavor's vCPUs and memory, maybe in one zone, maybe on one host,
maybe within a server group. Filters drop the hosts that cannot take it, each with its
reason; the rest are weighed, and the first wins:

- a server moving (a cold migration, an evacuation) goes to another host than its own;
- ``ComputeFilter``: the host's worker beats and the host is enabled;
- ``AvailabilityZoneFilter``: the host is in the zone asked for;
- vCPU and RAM, as placement counts them: ``total * ratio - reserved - used``;
- ``ServerGroupAffinityFilter``: an ``affinity`` group's later members go where its
  first went;
- ``ServerGroupAntiAffinityFilter``: an ``anti-affinity`` group puts at most
  ``max_server_per_host`` (1 unless its rules say) of its members on a host;
- weighers: with a ``soft-affinity`` group the host with most of its members first, with
  ``soft-anti-affinity`` the one with fewest; then the most memory free (spread, as
  Nova's RAM weigher with its default multiplier); then the name, so that a decision
  is the same however often it is made.

Disks are not counted here: every root disk and volume is in Ceph, shared by all hosts,
and Ceph's capacity is the volume quota's and the monitoring's business.

This module decides only; ``activities.placement`` reads the hosts and claims the
chosen one in one transaction, so that concurrent boots never overcommit a host.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

#: A host whose worker has not beaten for this long is down (Nova's service_down_time).
HOST_ALIVE_SECONDS = 60


def alive_since(now: dt.datetime) -> dt.datetime:
    """The oldest heartbeat of a host whose worker is up at ``now``."""
    return now - dt.timedelta(seconds=HOST_ALIVE_SECONDS)


def is_up(heartbeat_at: dt.datetime, forced_down: bool, now: dt.datetime) -> bool:
    """Whether a host counts as up: its worker beats, and no admin said it is down
    (Nova's ``forced_down``, for a host known dead before its heartbeat is old)."""
    return not forced_down and heartbeat_at >= alive_since(now)


#: Nova's fault message when no host passes the filters (its ``NoValidHost``).
NO_VALID_HOST = "No valid host was found. There are not enough hosts available."

AFFINITY, ANTI_AFFINITY = "affinity", "anti-affinity"
SOFT_AFFINITY, SOFT_ANTI_AFFINITY = "soft-affinity", "soft-anti-affinity"
POLICIES = (AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY)


@dataclass(frozen=True)
class HostState:
    """What the scheduler knows of one host at the moment of the decision."""

    name: str
    vcpus: int
    memory_mib: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    reserved_memory_mib: int
    vcpus_used: int
    memory_used_mib: int
    zone: str
    alive: bool
    enabled: bool = True
    #: How many members of the request's server group are on this host already.
    group_members: int = 0

    @property
    def vcpus_free(self) -> float:
        return self.vcpus * self.cpu_allocation_ratio - self.vcpus_used

    @property
    def memory_free_mib(self) -> float:
        return (
            self.memory_mib * self.ram_allocation_ratio
            - self.reserved_memory_mib
            - self.memory_used_mib
        )


@dataclass(frozen=True)
class Request:
    """What one server needs."""

    vcpus: int
    memory_mib: int
    zone: str | None = None
    #: An admin's ``host`` (2.74) or ``zone:host``: that host or none.
    host: str | None = None
    group_policy: str | None = None
    #: ``anti-affinity``'s rule (2.64): at most this many members per host.
    max_server_per_host: int = 1
    #: Members of the group placed already (an ``affinity`` group with none yet may go
    #: anywhere).
    group_size: int = 0
    #: The host a server moves away from (a migration's or evacuation's source).
    leaving: str | None = None


@dataclass(frozen=True)
class Decision:
    """The chosen host (None if none fits), the others that fit in order, and why each
    refused host was refused: what a boot's history records."""

    host: str | None
    fits: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for logs and faults' details."""
        refused = "; ".join(f"{name}: {why}" for name, why in sorted(self.refused.items()))
        chosen = self.host or "none"
        return f"chose {chosen} of {len(self.fits)} fitting; refused {refused or 'none'}"


def _refusal(request: Request, host: HostState) -> str | None:
    """Why ``host`` cannot take ``request``; None if it can."""
    if request.host is not None and host.name != request.host:
        return f"not the requested host {request.host}"
    if host.name == request.leaving:
        return "the server's own host"
    if not host.alive:
        return "its worker is down"
    if not host.enabled:
        return "disabled"
    if request.zone is not None and host.zone != request.zone:
        return f"in zone {host.zone}, not {request.zone}"
    if host.vcpus_free < request.vcpus:
        return f"{_n(host.vcpus_free)} vCPUs free, {request.vcpus} wanted"
    if host.memory_free_mib < request.memory_mib:
        return f"{_n(host.memory_free_mib)} MiB of memory free, {request.memory_mib} wanted"
    if request.group_policy == AFFINITY and request.group_size and not host.group_members:
        return "holds none of its affinity group's servers"
    if request.group_policy == ANTI_AFFINITY and host.group_members >= (
        request.max_server_per_host
    ):
        return f"holds {host.group_members} of its anti-affinity group's servers"
    return None


def _n(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _weight(request: Request, host: HostState) -> tuple[float, ...]:
    """Sort key: smaller is better."""
    group = 0
    if request.group_policy == SOFT_AFFINITY:
        group = -host.group_members
    elif request.group_policy == SOFT_ANTI_AFFINITY:
        group = host.group_members
    return (group, -host.memory_free_mib)


def place(request: Request, hosts: list[HostState]) -> Decision:
    """Filter, weigh, and choose."""
    refused: dict[str, str] = {}
    fitting: list[HostState] = []
    for host in hosts:
        why = _refusal(request, host)
        if why is None:
            fitting.append(host)
        else:
            refused[host.name] = why
    fitting.sort(key=lambda h: (*_weight(request, h), h.name))
    names = [h.name for h in fitting]
    return Decision(names[0] if names else None, names, refused)
