"""What the router holds, kept in a JSON file beside HAProxy's configuration.

The configuration and the host map are rendered from this state, so a reload or a restart
of HAProxy starts from the apps and members last asked for. A file lock serialises
changes from several processes (each app's supervisor calls the router on its own).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paas.router.base import AppRoute, HealthCheck, Member

#: Server slots a backend starts with; it grows in steps so that scaling rarely reloads.
MIN_SLOTS = 8


@dataclass(frozen=True)
class AppState:
    """One app: its route, its current members and how many server slots HAProxy has."""

    route: AppRoute
    members: tuple[Member, ...] = ()
    slots: int = MIN_SLOTS


@dataclass
class RouterState:
    apps: dict[str, AppState] = field(default_factory=dict)


def slots_for(members: tuple[Member, ...], current: int) -> int:
    """Enough slots for the highest index, doubled from ``current`` so growth is rare."""
    needed = max((member.index + 1 for member in members), default=0)
    slots = max(current, MIN_SLOTS)
    while slots < needed:
        slots *= 2
    return slots


def load(path: Path) -> RouterState:
    """The saved state, or an empty one if nothing was saved yet."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return RouterState()
    return RouterState({app_id: _app_from(item) for app_id, item in raw["apps"].items()})


def save(path: Path, state: RouterState) -> None:
    """Write the state atomically."""
    raw = {"apps": {app_id: dataclasses.asdict(app) for app_id, app in state.apps.items()}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold the router's lock: one change at a time across processes."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _app_from(item: dict[str, Any]) -> AppState:
    route = item["route"]
    return AppState(
        route=AppRoute(
            app_id=route["app_id"],
            hostnames=tuple(route["hostnames"]),
            port=route["port"],
            namespace=route["namespace"],
            health=HealthCheck(**route["health"]),
        ),
        members=tuple(Member(**member) for member in item["members"]),
        slots=item["slots"],
    )
