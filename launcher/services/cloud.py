"""``nimbus up``, ``down`` and ``status``: the whole cloud on one machine."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from launcher import bootstrap
from launcher.netbootstrap import PUBLIC_NETWORK, stage_public_network
from launcher.services import hosts, process, temporal
from nimbus.config import CHECKOUT, Settings, settings_env
from nimbus.db import Database
from nimbus.errors import BackendUnavailable
from nimbus.private import private_dir
from paas.postgresql import IMAGE_NAME as POSTGRESQL_IMAGE_NAME
from paas.runtime import RUNTIME_IMAGE_NAME
from workflows import net_starter, starter

#: Started in this order, stopped in the reverse one. The gateway comes last: it
#: validates Swift tokens against the API.
ORDER = (
    "libvirtd", "ceph", "temporal", "metadata", "worker", "api", "dashboard", "router",
    "rgw", "alertmanager", "prometheus",
)  # fmt: skip


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _child_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}


def _start_python(settings: Settings, name: str) -> int:
    argv = [sys.executable, "-m", "launcher.cli", name]
    return process.start(
        name, argv, settings.run_dir, settings.log_dir, _child_env(settings), cwd=CHECKOUT
    )


def guest_image_path(settings: Settings) -> Path:
    return settings.data_dir / "cache" / "nimbus-guest.raw"


def _guest_image(settings: Settings) -> Path:
    from nimbus.guestimage import build_guest_image

    out = guest_image_path(settings)
    if not out.exists():
        _say("building the default guest image from Debian packages")
    return build_guest_image(out, settings.data_dir / "cache" / "guest-build")


def _runtime_image(settings: Settings) -> Path:
    """The PaaS runtime image (Python from Debian packages), built the first time."""
    from launcher.drivers import runtime_image, runtime_image_path

    if not runtime_image_path(settings).exists():
        _say("building the PaaS runtime image from Debian packages")
    return runtime_image(settings)


def _postgresql_image(settings: Settings) -> Path:
    """The PostgreSQL service's server image (Debian's PostgreSQL), built the first time."""
    from launcher.drivers import postgresql_image_path
    from paas.postgresql import POSTGRESQL
    from paas.runtime import build_runtime_image

    out = postgresql_image_path(settings)
    if not out.exists():
        _say("building the PostgreSQL service image from Debian packages")
    return build_runtime_image(out, settings.data_dir / "cache" / "guest-build", POSTGRESQL)


def _choose_domain_type(settings: Settings, image: Path) -> None:
    """Probe once whether KVM really boots a guest here; the worker reads the answer."""
    from activities.hypervisor.probe import probe_kvm

    answer = settings.data_dir / "domain-type"
    if settings.domain_type != "auto" or answer.exists():
        return
    _say("checking once whether KVM really boots a guest here (else TCG)")
    kind = "kvm" if Path("/dev/kvm").exists() and probe_kvm(image) else "qemu"
    answer.write_text(kind + "\n")
    _say(f"guests run under {'KVM' if kind == 'kvm' else 'TCG (software emulation)'}")


def up(settings: Settings) -> None:
    """Start everything that is not running yet; safe to run again."""
    from launcher.services.libvirtd import ensure_libvirtd

    # It holds the cloud's secrets: clouds.yaml, service passwords, keys, the databases.
    private_dir(settings.data_dir)
    for folder in (settings.run_dir, settings.log_dir, settings.instances_dir):
        folder.mkdir(parents=True, exist_ok=True)
    _say("libvirtd (qemu:///system)")
    ensure_libvirtd(settings.log_dir, settings.run_dir)
    # VXLAN to the hosts ``nimbus host add`` makes goes over the underlay bridge.
    underlay = hosts.ensure_underlay(settings)
    if not settings.vtep_address:
        settings = dataclasses.replace(settings, vtep_address=underlay)
    _start_ceph(settings)
    settings = with_gateway_port(settings)
    image = _guest_image(settings)
    _choose_domain_type(settings, image)
    if settings.temporal_managed:
        _say(f"Temporal server and web UI ({settings.temporal_ui_url})")
        temporal.start(settings)
    else:
        _say(f"Temporal at {settings.temporal_address}, namespace {settings.temporal_namespace}")
        temporal.use_external(settings)
    _say("database and first-run state")
    db = Database(settings.db_url)
    creds = bootstrap.bootstrap(db, settings)
    if creds is not None:
        bootstrap.write_clouds_yaml(settings, creds)
    elif bootstrap.refresh_clouds_yaml(settings):
        _say(f"clouds.yaml now reaches the API at {settings.public_url}")
    if settings.own_ceph:
        bootstrap.ensure_rgw_user(db, settings)
    bootstrap.ensure_paas_user(db, settings)
    if settings.tls:
        from launcher.tls import ensure_certificates

        if ensure_certificates(settings):
            _say(
                f"made the cloud's certificate authority and HTTPS certificate ({settings.tls_dir})"
            )
    _say("metadata service, worker and API")
    _start_python(settings, "metadata")
    _start_python(settings, "worker")
    _start_python(settings, "api")
    _start_python(settings, "dashboard")
    logs = settings.log_dir
    process.wait_for_port(
        "worker metrics", "127.0.0.1", settings.worker_metrics_port, 60, logs / "worker.log"
    )
    process.wait_for_port("api", settings.api_host, settings.api_port, 60, logs / "api.log")
    process.wait_for_port(
        "dashboard", settings.dashboard_host, settings.dashboard_port, 60, logs / "dashboard.log"
    )
    if not process.wait_until(settings.metadata_socket.exists, 60):
        raise BackendUnavailable(f"the metadata service did not start; see {logs / 'metadata.log'}")
    _start_router(settings)
    _start_gateway(settings)
    _start_monitoring(settings)
    _import_default_image(settings, db, image)
    _import_default_image(settings, db, _runtime_image(settings), RUNTIME_IMAGE_NAME)
    _import_default_image(settings, db, _postgresql_image(settings), POSTGRESQL_IMAGE_NAME)
    _ensure_public_network(settings, db)
    _ensure_reconciler(settings)
    print_endpoints(settings)


def _start_ceph(settings: Settings) -> None:
    """Nimbus's own single-node cluster, unless an external one is configured."""
    if not settings.own_ceph:
        _say(f"Ceph: using the cluster of {settings.ceph_conf}")
        return
    from launcher.services.ceph import ensure_ceph

    _say("Ceph (mon, mgr, one OSD; pools images, volumes, vms)")
    ensure_ceph(
        settings.ceph_dir,
        settings.log_dir,
        settings.run_dir,
        osd_size_gib=settings.ceph_osd_size_gib,
    )


def _start_monitoring(settings: Settings) -> None:
    """Ceph's metrics exporter, then Prometheus (scraping every component) and Alertmanager."""
    from launcher.services.prometheus import alertmanager_url, ensure_monitoring, prometheus_url

    if settings.own_ceph:
        from launcher.services.ceph import enable_mgr_prometheus

        port = settings.ceph_metrics_port
        if not enable_mgr_prometheus(settings.ceph_dir, port, settings.log_dir):
            _say(f"warning: Ceph's metrics exporter does not listen on 127.0.0.1:{port}")
    _say(f"Prometheus ({prometheus_url(settings)}) and Alertmanager ({alertmanager_url(settings)})")
    ensure_monitoring(settings)


def with_gateway_port(settings: Settings) -> Settings:
    """The settings with the port our gateway uses (set, kept in its conf, or new)."""
    if not settings.own_ceph:
        return settings
    from launcher.services.rgw import gateway_port

    return dataclasses.replace(
        settings, rgw_port=gateway_port(settings.ceph_dir, settings.rgw_port)
    )


def _router_url(settings: Settings) -> str:
    return f"http://{settings.router_host}:{settings.router_port} (*.{settings.apps_domain})"


def _start_router(settings: Settings) -> None:
    """HAProxy routing app host names to app instances."""
    from launcher.services.router import ensure_router

    _say(f"apps router {_router_url(settings)}")
    s3 = urllib.parse.urlsplit(settings.s3_endpoint or "")
    ensure_router(
        settings.paas_dir / "router",
        settings.log_dir,
        settings.run_dir,
        settings.router_host,
        settings.router_port,
        object_store=s3.netloc,
        metrics_port=settings.router_metrics_port,
    )


def _start_gateway(settings: Settings) -> None:
    """The RADOS Gateway on our cluster, validating Swift tokens against our identity."""
    if not settings.own_ceph:
        return
    from launcher.services.rgw import ensure_gateway
    from launcher.services.rgw_conf import KeystoneAccess

    _say(f"RADOS Gateway (Swift {settings.object_store_endpoint}, S3 on the same port)")
    keystone = KeystoneAccess(
        url=settings.public_url + "/identity",
        user=bootstrap.RGW_USER,
        project=bootstrap.SERVICE_PROJECT,
        password_file=bootstrap.rgw_password_path(settings),
        token_file=bootstrap.rgw_token_path(settings),
    )
    bootstrap.issue_rgw_token(Database(settings.db_url), settings)
    ensure_gateway(
        settings.ceph_dir, settings.log_dir, settings.run_dir, settings.rgw_port, keystone
    )


def _import_default_image(
    settings: Settings, db: Database, source: Path, name: str = bootstrap.DEFAULT_IMAGE
) -> None:
    """Import a built-in image through the ImportImage workflow, like any upload."""
    owner = bootstrap.admin_project_id(db)
    image_id = bootstrap.stage_default_image(db, settings, source, owner, name)
    if image_id is None:
        return
    _say(f"importing the image {name} into Ceph")
    staged = str(settings.staging_dir / image_id)

    async def run() -> None:
        client = await temporal.connect(settings)
        await starter.import_image(client, owner, image_id, staged, settings.host_name, "raw")

    asyncio.run(run())


def _ensure_public_network(settings: Settings, db: Database) -> None:
    """The external network ``public``, realised by the same workflows as any network."""
    owner = bootstrap.admin_project_id(db)
    public = stage_public_network(db, settings, owner)
    if not (public.create_network or public.create_subnet):
        return
    _say(f"external network {PUBLIC_NETWORK} ({settings.external_cidr}, host-only)")

    async def run() -> None:
        client = await temporal.connect(settings)
        if public.create_network:
            await net_starter.create_network(client, owner, public.network_id)
        if public.create_subnet:
            await net_starter.create_subnet(client, owner, public.subnet_id)

    asyncio.run(run())


def _ensure_reconciler(settings: Settings) -> None:
    """The reconciler's schedule (a pass every ``NIMBUS_RECONCILE_SECONDS``)."""
    every = dt.timedelta(seconds=settings.reconcile_seconds)

    async def run() -> None:
        client = await temporal.connect(settings)
        await starter.ensure_reconcile_schedule(client, every)

    asyncio.run(run())


def down(settings: Settings) -> None:
    """Stop exactly what ``up`` started, newest first."""
    from launcher.services.ceph import stop_ceph
    from launcher.services.libvirtd import stop_libvirtd
    from launcher.services.rgw import stop_gateway
    from launcher.services.router import stop_router

    for name in hosts.stop_all(settings):
        _say(f"host {name} stopped")
    for name in reversed(ORDER):
        if name == "rgw":
            if stop_gateway(settings.run_dir):
                _say("radosgw stopped")
        elif name == "router":
            if stop_router(settings.run_dir):
                _say("router stopped")
        elif name == "libvirtd":
            stop_libvirtd(settings.run_dir)
            _say("libvirtd stopped (if nimbus had started it)")
        elif name == "ceph":
            if stop_ceph(settings.run_dir):
                _say("ceph stopped")
        elif process.stop(name, settings.run_dir):
            _say(f"{name} stopped")


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    endpoint: str
    foreign: bool = False


def status(settings: Settings) -> list[ServiceStatus]:
    from launcher.services.prometheus import alertmanager_url, prometheus_url
    from launcher.services.rgw_conf import gateway_conf_path, read_gateway_port

    kept = read_gateway_port(gateway_conf_path(settings.ceph_dir)) if settings.own_ceph else None
    settings = dataclasses.replace(settings, rgw_port=settings.rgw_port or kept or 0)
    endpoints = {
        "libvirtd": settings.libvirt_uri,
        "ceph": settings.ceph_conf_path,
        "temporal": f"{settings.temporal_address} (UI {settings.temporal_ui_url})",
        "metadata": f"169.254.169.254 in tenant networks, via {settings.metadata_socket}",
        "worker": f"metrics http://127.0.0.1:{settings.worker_metrics_port}/metrics",
        "api": settings.public_url,
        "dashboard": settings.dashboard_url,
        "router": _router_url(settings),
        "rgw": f"Swift {settings.object_store_endpoint or 'not configured'}",
        "alertmanager": alertmanager_url(settings),
        "prometheus": f"{prometheus_url(settings)} (consoles {prometheus_url(settings)}/consoles/"
        "index.html)",
    }
    rows = [
        ServiceStatus(name, process.running_pid(settings.run_dir, name), endpoints[name])
        for name in ORDER
    ]
    rows = [_gateway_status(settings, row) for row in rows]
    if not settings.temporal_managed:
        rows = [
            dataclasses.replace(row, foreign=True) if row.name == "temporal" else row
            for row in rows
        ]
    rows = [_ceph_status(settings, _foreign_libvirtd(settings, row)) for row in rows]
    for host in hosts.local_hosts(settings):
        pid = process.running_pid(host.folder / "run", "worker")
        rows.append(ServiceStatus(f"host {host.name}", pid, f"namespace {host.netns}"))
    return rows


def _gateway_status(settings: Settings, row: ServiceStatus) -> ServiceStatus:
    """The gateway's row: its PID file is named like the other Ceph daemons'."""
    from launcher.services.rgw import gateway_pid

    if row.name != "rgw":
        return row
    pid = gateway_pid(settings.run_dir)
    return ServiceStatus(row.name, pid, row.endpoint, foreign=pid is None and not settings.own_ceph)


def _ceph_status(settings: Settings, row: ServiceStatus) -> ServiceStatus:
    """Ceph's row: the monitor's PID (if Nimbus runs the cluster) and the cluster's health."""
    from launcher.services.ceph import ceph_health, pid_name
    from nimbus.errors import NimbusError

    if row.name != "ceph":
        return row
    pid = process.running_pid(settings.run_dir, pid_name("mon"))
    conf, keyring = Path(settings.ceph_conf_path), Path(settings.ceph_keyring_path)
    try:
        health = (
            ceph_health(conf, keyring, settings.ceph_client, timeout=5)
            if conf.exists()
            else "not created"
        )
    except NimbusError as exc:
        health = f"unreachable ({exc})"
    return ServiceStatus(
        row.name, pid, f"{health}, {conf}", foreign=pid is None and not settings.own_ceph
    )


def _foreign_libvirtd(settings: Settings, row: ServiceStatus) -> ServiceStatus:
    """A libvirtd that runs but that nimbus did not start is shown, and left alone by down."""
    from launcher.services.libvirtd import running

    if row.name != "libvirtd" or row.pid is not None or not running("libvirtd", settings.run_dir):
        return row
    return ServiceStatus(row.name, None, row.endpoint, foreign=True)


def _object_storage_line(settings: Settings) -> str:
    if not settings.object_store_endpoint:
        return ""
    return (
        f"  Object storage    Swift {settings.object_store_endpoint}/AUTH_<project>, S3 at"
        f" http://127.0.0.1:{settings.rgw_port} (keys: openstack ec2 credentials create)\n"
    )


def _ca_line(settings: Settings) -> str:
    if not settings.tls:
        return ""
    return (
        f"  HTTPS CA          {settings.tls_ca_cert}  (clouds.yaml trusts it; a browser: import"
        " it, or accept the certificate once)\n"
    )


def print_endpoints(settings: Settings) -> None:
    clouds = bootstrap.clouds_yaml_path(settings)
    url = settings.public_url
    print(
        f"""
Nimbus is up.
  API (OpenStack)   {url}  identity {url}/identity/v3  compute {url}/compute/v2.1
                    image {url}/image  block storage {url}/volume/v3
{_object_storage_line(settings)}  Apps router       {_router_url(settings)}
  Dashboard         {settings.dashboard_url}  (sign in with the credentials in clouds.yaml)
  Temporal web UI   {settings.temporal_ui_url}
  Metrics           {url}/metrics  http://127.0.0.1:{settings.worker_metrics_port}/metrics
  Prometheus        http://127.0.0.1:{settings.prometheus_port}  (dashboards: /consoles/index.html)
  Alertmanager      http://127.0.0.1:{settings.alertmanager_port}
  Credentials       {clouds}
{_ca_line(settings)}
Use it with the openstack CLI:
  export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=nimbus
  openstack server create --flavor m1.tiny --image {bootstrap.DEFAULT_IMAGE} --wait vm1
""",
        flush=True,
    )
