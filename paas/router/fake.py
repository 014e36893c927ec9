"""``FakeRouter``: the ``Router`` contract in memory, for tests.

It checks routes as the real router does and passes the same contract suite. Members are
``"UP"`` until a test says otherwise with ``set_health``; ``fail`` makes the next call(s)
of a method raise (a router that cannot act, say).
"""

from __future__ import annotations

import threading

from activities.faults import Faults
from nimbus.errors import Conflict, NotFound
from paas.router import validate
from paas.router.base import AppRoute, Member, MemberStats


class FakeRouter:
    """In-memory router; every method is thread-safe and checks injected failures first."""

    def __init__(self) -> None:
        self.apps: dict[str, AppRoute] = {}
        self.members: dict[str, dict[int, Member]] = {}
        self.health: dict[str, dict[int, str]] = {}
        #: What ``stats`` reports, by app and member; tests set it.
        self.counts: dict[str, dict[int, MemberStats]] = {}
        self.faults = Faults()
        self._lock = threading.RLock()

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` before doing anything."""
        self.faults.fail(method, error, times)

    def set_health(self, app_id: str, index: int, state: str) -> None:
        """What the next ``member_health`` reports for one member: ``"UP"`` or ``"DOWN"``."""
        with self._lock:
            self.health.setdefault(app_id, {})[index] = state

    def ensure_app(self, route: AppRoute) -> None:
        """See ``Router.ensure_app``."""
        self.faults.check("ensure_app")
        validate.check_route(route)
        with self._lock:
            for other in self.apps.values():
                taken = set(other.hostnames) & set(route.hostnames)
                if other.app_id != route.app_id and taken:
                    raise Conflict(f"host name {min(taken)} is held by app {other.app_id}")
            self.apps[route.app_id] = route
            self.members.setdefault(route.app_id, {})

    def set_members(self, app_id: str, members: tuple[Member, ...]) -> None:
        """See ``Router.set_members``."""
        self.faults.check("set_members")
        validate.check_members(members)
        with self._lock:
            self._require(app_id)
            self.members[app_id] = {member.index: member for member in members}

    def member_health(self, app_id: str) -> dict[int, str]:
        """See ``Router.member_health``."""
        self.faults.check("member_health")
        with self._lock:
            route = self._require(app_id)
            told = self.health.get(app_id, {})
            return {
                index: "UP" if route.health.type == "process" else told.get(index, "UP")
                for index in self.members[app_id]
            }

    def count(self, app_id: str, index: int, stats: MemberStats) -> None:
        """What the next ``stats`` reports for one member."""
        with self._lock:
            self.counts.setdefault(app_id, {})[index] = stats

    def stats(self, app_id: str) -> dict[int, MemberStats]:
        """See ``Router.stats``: what ``count`` said, nothing counted otherwise."""
        self.faults.check("stats")
        with self._lock:
            self._require(app_id)
            told = self.counts.get(app_id, {})
            return {index: told.get(index, MemberStats({})) for index in self.members[app_id]}

    def remove_app(self, app_id: str) -> None:
        """See ``Router.remove_app``."""
        self.faults.check("remove_app")
        with self._lock:
            self.apps.pop(app_id, None)
            self.members.pop(app_id, None)
            self.health.pop(app_id, None)

    def routes(self) -> dict[str, AppRoute]:
        """See ``Router.routes``."""
        self.faults.check("routes")
        with self._lock:
            return dict(self.apps)

    def _require(self, app_id: str) -> AppRoute:
        route = self.apps.get(app_id)
        if route is None:
            raise NotFound(f"app {app_id} is not on the router")
        return route
