"""The router contract: which host names reach which app, and which instances serve it.

Health follows Cloud Foundry: a new instance joins as a member that is health-checked but
gets no traffic (``routed=False``, HAProxy's ``drain``); once its check passes the
supervisor marks it routed (``ready``); a failing check stops its traffic at once. Every
method is idempotent; backend errors surface as ``nimbus.errors`` (``BackendUnavailable``
for a router that cannot act right now, which is retried).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

#: Health check types: a TCP connect, an HTTP GET (2xx/3xx is healthy), or none.
CHECK_TYPES = ("port", "http", "process")


@dataclass(frozen=True)
class HealthCheck:
    """How the router checks an instance."""

    type: str = "port"
    endpoint: str = "/"


@dataclass(frozen=True)
class AppRoute:
    """One app's host names and where and how its instances are reached."""

    app_id: str
    hostnames: tuple[str, ...]
    port: int = 8080
    namespace: str = ""
    health: HealthCheck = field(default_factory=HealthCheck)


@dataclass(frozen=True)
class Member:
    """One instance of an app: checked always, given traffic only when ``routed``."""

    index: int
    address: str
    routed: bool


#: The classes the router counts responses in.
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")


@dataclass(frozen=True)
class MemberStats:
    """What the router counted for one member since its process started (a reload starts
    the counts again): responses by status class, and the average response time of the
    last 1024 responses in milliseconds."""

    responses: dict[str, int] = field(default_factory=dict)
    response_ms: int = 0

    @property
    def requests(self) -> int:
        return sum(self.responses.values())


def backend_name(app_id: str) -> str:
    """The router's name for an app's pool of instances."""
    return f"app-{app_id}"


class Router(Protocol):
    def ensure_app(self, route: AppRoute) -> None:
        """Create or update the app's backend and host names; idempotent. Host names the
        route no longer lists are released. ``Conflict`` naming a host name another app
        holds (nothing changes then); ``InvalidSpec`` for a malformed route; ``NotFound``
        for a network namespace this host does not have."""
        ...

    def set_members(self, app_id: str, members: tuple[Member, ...]) -> None:
        """Make exactly ``members`` the app's instances (others stop getting traffic and
        checks); idempotent, and re-asserts everything so a restarted router heals.
        ``NotFound`` for an unknown app."""
        ...

    def member_health(self, app_id: str) -> dict[int, str]:
        """``"UP"`` or ``"DOWN"`` by index for each current member (always ``"UP"`` for
        the ``process`` check type). ``NotFound`` for an unknown app."""
        ...

    def remove_app(self, app_id: str) -> None:
        """Remove the app's backend and host names; a missing app is success."""
        ...

    def stats(self, app_id: str) -> dict[int, MemberStats]:
        """Each current member's counts by index. ``NotFound`` for an unknown app;
        ``BackendUnavailable`` if the router cannot tell right now."""
        ...

    def routes(self) -> dict[str, AppRoute]:
        """Every app the router holds, by app id."""
        ...
