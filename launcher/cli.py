"""The ``nimbus`` command line."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import signal
import sys
from pathlib import Path

from nimbus.config import Settings, load_settings
from nimbus.errors import NimbusError
from nimbus.exit import exit_now


def _up(settings: Settings, _args: argparse.Namespace) -> int:
    from launcher.services import cloud

    cloud.up(settings)
    return 0


def _down(settings: Settings, _args: argparse.Namespace) -> int:
    from launcher.services import cloud

    cloud.down(settings)
    return 0


def _status(settings: Settings, _args: argparse.Namespace) -> int:
    from launcher.services import cloud

    rows = cloud.status(settings)
    for row in rows:
        state = f"running (pid {row.pid})" if row.pid else "stopped"
        state = "running (not ours)" if row.foreign else state
        print(f"{row.name:<10} {state:<22} {row.endpoint}")
    # A host of this machine may be powered off on purpose (nimbus host stop).
    needed = [r for r in rows if r.name != "libvirtd" and not r.name.startswith("host ")]
    return 0 if all(row.pid or row.foreign for row in needed) else 3


def _api(settings: Settings, _args: argparse.Namespace) -> int:
    from api.server import ApiServer
    from launcher.drivers import real_block_store
    from observability.logs import configure

    configure("api", settings.log_dir)
    ApiServer(settings, lambda: real_block_store(settings)).run()
    return 0


def _dashboard(settings: Settings, _args: argparse.Namespace) -> int:
    from dashboard.server import DashboardServer
    from observability.logs import configure

    configure("dashboard", settings.log_dir)
    DashboardServer(settings).run()
    return 0


def _metadata(settings: Settings, _args: argparse.Namespace) -> int:
    from api.server import MetadataServer
    from observability.logs import configure

    configure("metadata", settings.log_dir)
    settings.metadata_socket.unlink(missing_ok=True)  # left by a metadata service that died
    MetadataServer(settings).run()
    return 0


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    from prometheus_client import REGISTRY, start_http_server

    from launcher.drivers import real_drivers
    from launcher.worker import run
    from nimbus.db import Database
    from observability.logs import configure
    from observability.servers import ServerStatsCollector

    configure("worker", settings.log_dir)
    drivers = real_drivers(settings)
    db = Database(settings.db_url)
    REGISTRY.register(
        ServerStatsCollector(drivers.hypervisor, db, settings.instance_prefix, settings.host_name)
    )
    start_http_server(settings.worker_metrics_port, addr="127.0.0.1")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, drivers, stop)

    asyncio.run(main())
    return 0


def _build_image(settings: Settings, args: argparse.Namespace) -> int:
    from launcher.services.cloud import guest_image_path
    from nimbus.guestimage import build_guest_image

    out = Path(args.out) if args.out else guest_image_path(settings)
    print(build_guest_image(out, settings.data_dir / "cache" / "guest-build"))
    return 0


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    """Print the audit trail, newest first, as the admin of ``clouds.yaml``."""
    from launcher.bootstrap import clouds_yaml_path
    from nimbus.client import NimbusClient

    params = {
        k: v
        for k, v in vars(args).items()
        if k in ("project_id", "user_id", "resource_id", "since", "until", "limit") and v
    }
    client = NimbusClient(clouds_yaml_path(settings))
    response = client.call("GET", "/audit/v1/events", params=params)
    if response.status_code != 200:
        print(f"nimbus: error: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    events = response.json()["events"]
    if args.json:
        print(json.dumps(events, indent=2))
        return 0
    for e in events:
        who = e["user_name"] or "-"
        flows = ",".join(e["workflow_ids"]) or "-"
        print(f"{e['at'][:19]}  {who:<12} {e['status']}  {e['method']:<6} {e['path']}  {flows}")
    return 0


def _db(settings: Settings, args: argparse.Namespace) -> int:
    """``upgrade`` brings the database to the newest schema (``nimbus up`` does too, so
    this is for upgrading before starting); ``version`` says where it stands."""
    from nimbus import migrate
    from nimbus.db import Database

    db = Database(settings.db_url)
    try:
        if args.db_command == "upgrade":
            print(db.create_schema())
        else:
            print(
                f"database at {migrate.current(db.engine) or 'no revision'},"
                f" newest {migrate.head()}"
            )
    finally:
        db.engine.dispose()
    return 0


def _trace(settings: Settings, args: argparse.Namespace) -> int:
    """Everything one request did: its API line, its workflows, its activities' lines."""
    from observability.trace import as_json, collect, render

    found = collect(settings, args.request_id)
    print(as_json(found) if args.json else render(found))
    return 0


def _host(settings: Settings, args: argparse.Namespace) -> int:
    """Hosts of the cloud: ``list`` every registered one; ``add``, ``start``, ``stop``
    and ``remove`` a compute host simulated on this machine; ``disable`` and ``enable``
    any (through the compute API, so the audit trail has it)."""
    from launcher.services import hosts

    command = args.host_command
    if command == "list":
        return _host_list(settings)
    if command in ("disable", "enable"):
        return _host_status(settings, args.name, command, args.reason)
    if command == "add":
        host = hosts.add(settings, args.name)
        print(
            f"host {host.name}: namespace {host.netns}, VTEP "
            f"{hosts.underlay_address(settings, host.index)}; waiting for its worker"
        )
        return 0 if _registered(settings, host.name) else 1
    host = hosts.local_host(settings, args.name)
    if command == "start":
        hosts.start(settings, host)
        return 0 if _registered(settings, host.name) else 1
    if command == "stop":
        ended = hosts.stop(settings, host)
        print(f"host {host.name} powered off ({len(ended)} processes ended)")
        return 0
    hosts.remove(settings, host)
    print(f"host {host.name} removed (its row stays until 'openstack compute service delete')")
    return 0


def _registered(settings: Settings, name: str, timeout: float = 90) -> bool:
    """Wait until the host's worker beats after now."""
    import time

    from nimbus.db import Database, Host, utcnow

    since, db = utcnow(), Database(settings.db_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            row = s.get(Host, name)
            if row is not None and row.heartbeat_at >= since:
                print(f"host {name} is up")
                return True
        time.sleep(0.5)
    print(f"nimbus: error: host {name} did not beat within {timeout:.0f} s", file=sys.stderr)
    return False


def _host_list(settings: Settings) -> int:
    from sqlalchemy import func, select

    from launcher.services import hosts
    from nimbus.db import Database, Host, Server, utcnow
    from nimbus.scheduler import is_up

    local = {h.name: h for h in hosts.local_hosts(settings)}
    now, db = utcnow(), Database(settings.db_url)
    print(f"{'NAME':<20} {'STATE':<6} {'STATUS':<9} {'VTEP':<16} {'SERVERS':>7}  WHERE")
    with db.session() as s:
        counts = dict(
            s.execute(
                select(Server.host, func.count())
                .where(Server.deleted_at.is_(None), Server.host.is_not(None))
                .group_by(Server.host)
            ).all()
        )
        for row in s.scalars(select(Host).order_by(Host.name)):
            state = "up" if is_up(row.heartbeat_at, row.forced_down, now) else "down"
            status = "disabled" if row.disabled else "enabled"
            where = f"namespace {local[row.name].netns}" if row.name in local else "-"
            vtep = row.vtep_address or "-"
            print(
                f"{row.name:<20} {state:<6} {status:<9} {vtep:<16} "
                f"{counts.get(row.name, 0):>7}  {where}"
            )
    return 0


def _host_status(settings: Settings, name: str, command: str, reason: str | None) -> int:
    from launcher.bootstrap import clouds_yaml_path
    from nimbus.client import NimbusClient

    client = NimbusClient(clouds_yaml_path(settings))
    headers = {"OpenStack-API-Version": "compute 2.53"}
    found = client.call("GET", f"/compute/v2.1/os-services?host={name}", headers=headers)
    services = found.json().get("services", []) if found.status_code == 200 else []
    if not services:
        print(f"nimbus: error: no compute host {name}", file=sys.stderr)
        return 1
    body: dict[str, str] = {"status": "disabled" if command == "disable" else "enabled"}
    if command == "disable" and reason:
        body["disabled_reason"] = reason
    path = f"/compute/v2.1/os-services/{services[0]['id']}"
    done = client.call("PUT", path, json=body, headers=headers)
    if done.status_code != 200:
        print(f"nimbus: error: {done.status_code} {done.text}", file=sys.stderr)
        return 1
    print(f"host {name} {body['status']}")
    return 0


def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    """Run one reconcile pass now and print what it found (``--json``: the report);
    exit 4 if anything is open."""
    from activities.drift import DriftReport
    from launcher.services import temporal
    from workflows import starter

    async def run() -> DriftReport:
        return await starter.reconcile_now(await temporal.connect(settings))

    report = asyncio.run(run())
    if args.json:
        print(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        for line in report.found:
            print(f"found     {line}")
        for line in report.repaired:
            print(f"repaired  {line}")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.open.items()))
        print(f"open: {counts or 'none'}")
    return 4 if report.open else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nimbus", description="Run and use the Nimbus cloud.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the cloud (safe to run again)").set_defaults(fn=_up)
    sub.add_parser("down", help="stop what 'up' started").set_defaults(fn=_down)
    sub.add_parser("status", help="say what runs and where").set_defaults(fn=_status)
    sub.add_parser("api", help="run the API in the foreground").set_defaults(fn=_api)
    sub.add_parser("worker", help="run a worker in the foreground").set_defaults(fn=_worker)
    sub.add_parser("dashboard", help="run the dashboard in the foreground").set_defaults(
        fn=_dashboard
    )
    sub.add_parser(
        "metadata", help="run this host's metadata service (169.254.169.254) in the foreground"
    ).set_defaults(fn=_metadata)
    build = sub.add_parser("build-image", help="build the default guest image")
    build.add_argument("out", nargs="?", help="where to write it")
    build.set_defaults(fn=_build_image)
    trace = sub.add_parser(
        "trace", help="what one request did (its x-openstack-request-id), from the logs"
    )
    trace.add_argument("request_id", help="req-... from the API's answer")
    trace.add_argument("--json", action="store_true", help="print JSON")
    trace.set_defaults(fn=_trace)
    audit = sub.add_parser("audit", help="the audit trail of state-changing requests")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    listing = audit_sub.add_parser("list", help="list recorded requests, newest first")
    for flag in ("--project-id", "--user-id", "--resource-id", "--since", "--until"):
        listing.add_argument(flag)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(fn=_audit)
    database = sub.add_parser("db", help="the schema of the cloud's database")
    database_sub = database.add_subparsers(dest="db_command", required=True)
    database_sub.add_parser("upgrade", help="run the migrations up to the newest schema")
    database_sub.add_parser("version", help="the schema's revision, and the newest")
    database.set_defaults(fn=_db)
    host = sub.add_parser("host", help="the cloud's compute hosts")
    host_sub = host.add_subparsers(dest="host_command", required=True)
    host_sub.add_parser("list", help="every registered host: up or down, enabled, VTEP")
    for name, helptext in (
        ("add", "add a compute host on this machine (its own namespace, libvirtd, worker)"),
        ("start", "start a host added on this machine again"),
        ("stop", "power a host of this machine off: its worker and guests end at once"),
        ("remove", "stop a host of this machine and remove its namespace and folder"),
    ):
        host_sub.add_parser(name, help=helptext).add_argument("name")
    for name, helptext in (
        ("disable", "place no new servers on the host"),
        ("enable", "place servers on the host again"),
    ):
        command = host_sub.add_parser(name, help=helptext)
        command.add_argument("name")
        command.add_argument("--reason", default=None, help="why (disable only)")
    host.set_defaults(fn=_host)
    reconcile = sub.add_parser(
        "reconcile", help="compare the rows with the hosts and Ceph now, and report drift"
    )
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(fn=_reconcile)
    from paas.cli import add_commands, add_service_commands

    add_commands(sub)
    add_service_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.fn(load_settings(), args))
    except (NimbusError, FileNotFoundError) as exc:
        print(f"nimbus: error: {exc}", file=sys.stderr)
        return 1


def run() -> None:
    """The console entry point: ``main``, then an exit safe for Temporal's threads."""
    exit_now(main())


if __name__ == "__main__":
    run()
