"""Router activities: the app's host names and members on the router's host (its own
task queue), over a ``Router`` driver. Each call states the whole wanted state, so a
retry or a repeat is harmless."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from paas.router.base import AppRoute, HealthCheck, Member, Router

#: The task queue of the worker that runs beside the router.
ROUTER_QUEUE = "nimbus-router"


@dataclass(frozen=True)
class RouteInput:
    app_id: str
    hostnames: list[str]
    namespace: str
    port: int = 8080
    health_type: str = "port"
    health_endpoint: str = "/"


@dataclass(frozen=True)
class MemberInput:
    index: int
    address: str
    routed: bool


@dataclass(frozen=True)
class MembersInput:
    app_id: str
    members: list[MemberInput] = field(default_factory=list)


@dataclass(frozen=True)
class RouterAppRef:
    app_id: str


@dataclass(frozen=True)
class MemberCounts:
    """One member's responses by status class, as the router counted them since its
    process started, and its recent average response time."""

    member: int
    responses: dict[str, int]
    response_ms: int


@dataclass(frozen=True)
class StatsResult:
    members: list[MemberCounts]


@dataclass(frozen=True)
class HealthResult:
    #: ``[index, "UP" | "DOWN"]`` for each member.
    states: list[tuple[int, str]]

    def of(self, index: int) -> str | None:
        return next((state for i, state in self.states if i == index), None)


class RouterActivities:
    """Activities over the router driver of this host."""

    def __init__(self, router: Router) -> None:
        self.router = router

    @activity.defn
    def ensure_route(self, inp: RouteInput) -> None:
        """The app's backend with these host names and health check (idempotent)."""
        health = HealthCheck(inp.health_type, inp.health_endpoint)
        route = AppRoute(inp.app_id, tuple(inp.hostnames), inp.port, inp.namespace, health)
        self.router.ensure_app(route)

    @activity.defn
    def set_members(self, inp: MembersInput) -> None:
        """Exactly these members: routed ones get traffic, the others are only checked."""
        members = tuple(Member(m.index, m.address, m.routed) for m in inp.members)
        self.router.set_members(inp.app_id, members)

    @activity.defn
    def health(self, inp: RouterAppRef) -> HealthResult:
        """Each member's health as the router's checks see it."""
        states = self.router.member_health(inp.app_id)
        return HealthResult(sorted(states.items()))

    @activity.defn
    def stats(self, inp: RouterAppRef) -> StatsResult:
        """Each member's response counts (read-only)."""
        counts = self.router.stats(inp.app_id)
        return StatsResult(
            [
                MemberCounts(index, dict(s.responses), s.response_ms)
                for index, s in sorted(counts.items())
            ]
        )

    @activity.defn
    def remove_route(self, inp: RouterAppRef) -> None:
        """Take the app off the router; an app it does not hold is fine."""
        self.router.remove_app(inp.app_id)

    def all(self) -> list[Callable[..., Any]]:
        return [self.ensure_route, self.set_members, self.health, self.stats, self.remove_route]
