"""HAProxy's files for the router, rendered from the router's state.

One folder holds everything: the configuration, the host map (host name -> backend), the
admin stats socket, the master's PID file, the server state saved across reloads, the
router's JSON state and the listen address. Each app is a backend with pre-allocated
server slots ``i0``, ``i1``... named after instance indexes; members change through the
runtime API, and the rendered slots mirror the last members so a restart starts right.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from paas.router.base import AppRoute, Member, backend_name
from paas.router.state import AppState
from paas.services import OBJECT_STORE_ADDRESS, OBJECT_STORE_PORT

#: The backend for host names no app holds: a plain 404 page.
NO_APP = "no-app"

#: Where ``ip netns`` keeps named network namespaces; HAProxy opens them from here.
NETNS_DIR = Path("/var/run/netns")

#: An instance is UP after one passed check and DOWN after three failed ones, two seconds
#: apart (each may take 2 s): a guest under TCG on a busy host answers slowly, and a
#: DOWN instance is replaced, so one slow answer must not condemn it.
CHECK = "inter 2s fall 3 rise 1"


@dataclass(frozen=True)
class RouterPaths:
    """The files of one router, all in ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "haproxy.cfg"

    @property
    def hosts_map(self) -> Path:
        return self.root / "hosts.map"

    @property
    def socket(self) -> Path:
        return self.root / "admin.sock"

    @property
    def pid_file(self) -> Path:
        return self.root / "haproxy.pid"

    @property
    def server_state(self) -> Path:
        return self.root / "server-state"

    @property
    def state(self) -> Path:
        return self.root / "apps.json"

    @property
    def listen(self) -> Path:
        return self.root / "listen.json"

    @property
    def lock(self) -> Path:
        return self.root / "lock"


@dataclass(frozen=True)
class Listen:
    """Where the router takes app traffic, the object store's S3 address (``host:port``
    on this host, ``""`` if there is none) that apps reach through it, and the port of
    HAProxy's own Prometheus exporter on the same host (0: none)."""

    host: str
    port: int
    object_store: str = ""
    metrics_port: int = 0


def write_listen(paths: RouterPaths, listen: Listen) -> None:
    raw = {
        "host": listen.host,
        "port": listen.port,
        "object_store": listen.object_store,
        "metrics_port": listen.metrics_port,
    }
    paths.listen.write_text(json.dumps(raw) + "\n")


def read_listen(paths: RouterPaths) -> Listen:
    raw = json.loads(paths.listen.read_text())
    return Listen(
        raw["host"],
        int(raw["port"]),
        str(raw.get("object_store", "")),
        int(raw.get("metrics_port", 0)),
    )


def namespace_exists(namespace: str) -> bool:
    """Whether HAProxy can connect from ``namespace`` ("" is the host's own)."""
    return not namespace or (NETNS_DIR / namespace).exists()


def write_files(paths: RouterPaths, listen: Listen, apps: dict[str, AppState]) -> bool:
    """Render the host map and the configuration; whether the configuration changed.
    An app whose namespace is gone (its network was deleted) gets no backend: HAProxy
    refuses a whole configuration naming a missing namespace, which would stop every app."""
    _replace(paths.hosts_map, render_map(apps))
    live = {app_id: app for app_id, app in apps.items() if namespace_exists(app.route.namespace)}
    return _replace(paths.config, render_config(paths, listen, live))


def _replace(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it; whether it wrote."""
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


def slot_name(index: int) -> str:
    return f"i{index}"


def render_map(apps: dict[str, AppState]) -> str:
    """The host map: one ``host backend`` line per host name, sorted."""
    pairs = sorted(
        (hostname, backend_name(app_id))
        for app_id, app in apps.items()
        for hostname in app.route.hostnames
    )
    return "".join(f"{hostname} {backend}\n" for hostname, backend in pairs)


def render_config(paths: RouterPaths, listen: Listen, apps: dict[str, AppState]) -> str:
    """The whole configuration: global settings, the frontend, one backend per app and,
    with an object store, its listener in each app network."""
    sections = [_global(paths), _frontend(paths, listen), _no_app()]
    if listen.metrics_port:
        sections.append(_metrics(listen))
    sections += [_backend(apps[app_id]) for app_id in sorted(apps)]
    if listen.object_store:
        namespaces = sorted({app.route.namespace for app in apps.values()} - {""})
        sections += [_object_store(ns, listen.object_store) for ns in namespaces]
    return "\n".join(sections)


def _object_store(namespace: str, gateway: str) -> str:
    """Apps reach the object store at ``OBJECT_STORE_ADDRESS:OBJECT_STORE_PORT`` in their
    network (the metadata service's address, on the network's DHCP port): HAProxy listens
    there inside the namespace and passes each connection, untouched (S3 signs the Host
    header), to the gateway on this host. ``transparent`` lets the listener bind before
    the address is up, so a network still being made never fails the whole router."""
    return f"""listen object-store-{namespace}
    mode tcp
    bind {OBJECT_STORE_ADDRESS}:{OBJECT_STORE_PORT} namespace {namespace} transparent
    server gateway {gateway}
"""


def _global(paths: RouterPaths) -> str:
    # Old workers get 30 s to finish their requests after a reload.
    return f"""global
    master-worker
    pidfile {paths.pid_file}
    stats socket {paths.socket} mode 600 level admin expose-fd listeners
    server-state-file {paths.server_state}
    hard-stop-after 30s

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout check 2s
    load-server-state-from-file global
    option redispatch
    retries 2
"""


def _frontend(paths: RouterPaths, listen: Listen) -> str:
    return f"""frontend apps
    bind {listen.host}:{listen.port}
    use_backend %[req.hdr(host),lower,word(1,:),map({paths.hosts_map},{NO_APP})]
    default_backend {NO_APP}
"""


def _metrics(listen: Listen) -> str:
    """HAProxy's built-in Prometheus exporter: frontends, backends (one per app) and
    servers (one per instance slot), for the Prometheus that ``nimbus up`` runs."""
    return f"""frontend metrics
    bind {listen.host}:{listen.metrics_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request return status 404 content-type text/plain string "Try /metrics."
"""


def _no_app() -> str:
    return f"""backend {NO_APP}
    http-request return status 404 content-type text/plain string "No app at this host name."
"""


def _backend(app: AppState) -> str:
    route = app.route
    lines = [f"backend {backend_name(route.app_id)}", "    balance roundrobin"]
    if route.health.type == "http":
        lines.append(f"    option httpchk GET {route.health.endpoint}")
    if route.health.type != "process":
        lines.append(f"    default-server check {CHECK}")
    members = {member.index: member for member in app.members}
    lines += [_slot(index, members.get(index), route) for index in range(app.slots)]
    return "\n".join(lines) + "\n"


def _slot(index: int, member: Member | None, route: AppRoute) -> str:
    """A slot holding a routed member is enabled; a checked-only member or an empty slot
    starts disabled until the runtime API says otherwise (never traffic unchecked). The
    namespace goes on each server line: HAProxy 2.6 does not take it from default-server."""
    address = member.address if member else "127.0.0.1"
    line = f"    server {slot_name(index)} {address}:{route.port}"
    if route.namespace:
        line += f" namespace {route.namespace}"
    return line if member and member.routed else line + " disabled"
