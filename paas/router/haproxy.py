"""``HaproxyRouter``: the ``Router`` contract on the HAProxy that
``launcher.services.router`` runs from the same folder.

Changes are saved to the router's state first and rendered into the configuration and the
host map, so a reload or restart starts from them; then the running HAProxy is told
through its runtime API. Only a new backend, a changed check or more members than server
slots needs a reload. ``set_members`` re-asserts every slot each time: after a restart,
the supervisor's next call puts everything back.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nimbus.errors import BackendUnavailable, Conflict, NotFound
from paas.router import state, validate
from paas.router.base import AppRoute, Member, MemberStats, backend_name
from paas.router.haproxy_conf import (
    RouterPaths,
    namespace_exists,
    read_listen,
    render_map,
    slot_name,
    write_files,
)
from paas.router.reload import reload
from paas.router.runtime import Runtime, ServerState
from paas.router.state import AppState, RouterState


class HaproxyRouter:
    """The router in ``router_dir``; every method takes the folder's lock to change it."""

    def __init__(self, router_dir: Path, timeout: float = 10.0) -> None:
        self.paths = RouterPaths(router_dir)
        self.runtime = Runtime(self.paths.socket)
        self.timeout = timeout

    def ensure_app(self, route: AppRoute) -> None:
        """See ``Router.ensure_app``."""
        validate.check_route(route)
        if not namespace_exists(route.namespace):
            raise NotFound(f"network namespace {route.namespace} is not on this host")
        with state.locked(self.paths.lock):
            current = state.load(self.paths.state)
            _refuse_taken(current, route)
            old = current.apps.get(route.app_id)
            kept = old or AppState(route)
            current.apps[route.app_id] = dataclasses.replace(kept, route=route)
            self._write(current)
            same_backend = old is not None and _backend_part(old.route) == _backend_part(route)
            if not same_backend or self.runtime.servers(backend_name(route.app_id)) is None:
                self._reload()
            self._sync_map(current)

    def set_members(self, app_id: str, members: tuple[Member, ...]) -> None:
        """See ``Router.set_members``."""
        validate.check_members(members)
        with state.locked(self.paths.lock):
            current = state.load(self.paths.state)
            app = _require(current, app_id)
            slots = state.slots_for(members, app.slots)
            wanted = AppState(app.route, tuple(sorted(members, key=lambda m: m.index)), slots)
            if wanted != app:
                current.apps[app_id] = wanted
                self._write(current)
            servers = self._servers_with_slots(app_id, slots)
            self._apply(wanted, servers)

    def member_health(self, app_id: str) -> dict[int, str]:
        """See ``Router.member_health``: UP only once a check of that very address passed."""
        app = _require(state.load(self.paths.state), app_id)
        if app.route.health.type == "process":
            return {member.index: "UP" for member in app.members}
        servers = self.runtime.servers(backend_name(app_id))
        if servers is None:
            raise BackendUnavailable(f"HAProxy has no backend for app {app_id} yet")
        return {m.index: _health(servers.get(slot_name(m.index)), m) for m in app.members}

    def remove_app(self, app_id: str) -> None:
        """See ``Router.remove_app``. The backend itself goes at the next reload; until then
        its host names are unmapped and its slots are in maintenance (no checks)."""
        with state.locked(self.paths.lock):
            current = state.load(self.paths.state)
            if current.apps.pop(app_id, None) is not None:
                self._write(current)
            self._sync_map(current)
            for name in self.runtime.servers(backend_name(app_id)) or {}:
                self.runtime.run(f"set server {backend_name(app_id)}/{name} state maint")

    def stats(self, app_id: str) -> dict[int, MemberStats]:
        """See ``Router.stats``."""
        app = _require(state.load(self.paths.state), app_id)
        slots = self.runtime.stats(backend_name(app_id))
        if slots is None:
            raise BackendUnavailable(f"HAProxy has no backend for app {app_id} yet")
        empty = MemberStats({})
        return {m.index: slots.get(slot_name(m.index), empty) for m in app.members}

    def routes(self) -> dict[str, AppRoute]:
        """See ``Router.routes`` (what the router's saved state holds)."""
        return {app_id: app.route for app_id, app in state.load(self.paths.state).apps.items()}

    def _write(self, current: RouterState) -> None:
        """Save the state, then render the host map and the configuration from it."""
        try:
            listen = read_listen(self.paths)
        except FileNotFoundError as exc:
            raise BackendUnavailable(f"no router set up in {self.paths.root}") from exc
        state.save(self.paths.state, current)
        write_files(self.paths, listen, current.apps)

    def _reload(self) -> None:
        reload(self.paths, self.runtime, self.timeout)

    def _servers_with_slots(self, app_id: str, slots: int) -> dict[str, ServerState]:
        """The backend's slots at runtime, reloading first if it lacks the backend or slots
        (a new backend whose reload failed, or growth past the slots rendered)."""
        servers = self.runtime.servers(backend_name(app_id))
        if servers is None or len(servers) < slots:
            self._reload()
            servers = self.runtime.servers(backend_name(app_id))
        if servers is None:
            raise BackendUnavailable(f"HAProxy has no backend for app {app_id} after a reload")
        return servers

    def _apply(self, app: AppState, servers: dict[str, ServerState]) -> None:
        """Put each member's slot at its address and state, and every other slot in maint."""
        backend = backend_name(app.route.app_id)
        members = {slot_name(member.index): member for member in app.members}
        for name, server in servers.items():
            member = members.get(name)
            commands = _member_commands(server, member, app.route) if member else ["state maint"]
            for command in commands:
                self.runtime.run(f"set server {backend}/{name} {command}")

    def _sync_map(self, current: RouterState) -> None:
        """Make HAProxy's in-memory host map match the state: add, change, delete."""
        wanted = dict(line.split() for line in render_map(current.apps).splitlines())
        held = self.runtime.map_entries(self.paths.hosts_map)
        map_file = self.paths.hosts_map
        for hostname in held.keys() - wanted.keys():
            self.runtime.run(f"del map {map_file} {hostname}")
        for hostname, backend in wanted.items():
            if hostname not in held:
                self.runtime.run(f"add map {map_file} {hostname} {backend}")
            elif held[hostname] != backend:
                self.runtime.run(f"set map {map_file} {hostname} {backend}")


def _member_commands(server: ServerState, member: Member, route: AppRoute) -> list[str]:
    """Runtime commands for one member's slot: its state, and first its address if that
    changed. The old instance's health never counts for the new one."""
    target = "state ready" if member.routed else "state drain"
    if (server.address, server.port) == (member.address, route.port):
        return [target]
    # Leaving maintenance marks the slot UP with the old address's last check result;
    # forcing its health down (only possible outside maintenance, so while draining) makes
    # the new address earn UP with a check of its own before it may get traffic.
    moved = ["state maint", f"addr {member.address} port {route.port}", "state drain"]
    checked = route.health.type != "process"
    return [*moved, *(["health down"] if checked else []), target]


def _health(server: ServerState | None, member: Member) -> str:
    if server is None or server.maint or server.address != member.address:
        return "DOWN"
    return "UP" if server.running and server.check_passed else "DOWN"


def _backend_part(route: AppRoute) -> AppRoute:
    """The route without its host names: what the backend's configuration depends on."""
    return dataclasses.replace(route, hostnames=())


def _refuse_taken(current: RouterState, route: AppRoute) -> None:
    for other in current.apps.values():
        taken = set(other.route.hostnames) & set(route.hostnames)
        if other.route.app_id != route.app_id and taken:
            raise Conflict(f"host name {min(taken)} is held by app {other.route.app_id}")


def _require(current: RouterState, app_id: str) -> AppState:
    app = current.apps.get(app_id)
    if app is None:
        raise NotFound(f"app {app_id} is not on the router")
    return app
