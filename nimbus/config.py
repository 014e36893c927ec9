"""Settings: read once from the environment into a typed object and passed down.

No other module reads the environment.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The checkout this code runs from; the default data directory lives inside it.
CHECKOUT = Path(__file__).resolve().parent.parent

#: The RADOS Gateway serves Swift under ``/<prefix>/v1/AUTH_<project id>``.
SWIFT_PREFIX = "swift"

#: Each project's limits unless an admin sets its own (OpenStack's defaults; -1: unlimited).
#: ``NIMBUS_QUOTA_<NAME>`` overrides one, e.g. ``NIMBUS_QUOTA_INSTANCES=20``.
QUOTA_DEFAULTS: dict[str, int] = {
    "instances": 10,
    "cores": 20,
    "ram": 51200,
    "volumes": 10,
    "gigabytes": 1000,
    "snapshots": 10,
    "network": 100,
    "subnet": 100,
    "port": 500,
    "router": 10,
    "floatingip": 50,
    "security_group": 10,
    "security_group_rule": 100,
}


@dataclass(frozen=True)
class Settings:
    """Everything a Nimbus process needs to know about where it runs."""

    data_dir: Path = CHECKOUT / ".nimbus"
    api_host: str = "127.0.0.1"
    api_port: int = 8770
    #: Run workflows in Temporal's sandbox (``launcher.worker.workflow_runner``): off, as
    #: the tests hold every workflow to it; on, to find what a workflow does that it must
    #: not, in the cloud itself.
    workflow_sandbox: bool = False
    #: HTTPS for the API and the dashboard, with a certificate ``nimbus up`` makes from a
    #: certificate authority of the cloud's own (``tls_dir``), which clouds.yaml trusts.
    tls: bool = True
    temporal_host: str = "127.0.0.1"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    temporal_namespace: str = "default"
    #: ``nimbus up`` runs Temporal's dev server here, unless this is off: the cloud then
    #: uses the Temporal cluster at ``temporal_host:temporal_port`` as it is.
    temporal_managed: bool = True
    #: TLS to the Temporal frontend: a CA bundle to trust (the system's when empty), a
    #: client certificate and key for mutual TLS, and the name its certificate carries
    #: (the host's when empty).
    temporal_tls: bool = False
    temporal_tls_ca: str = ""
    temporal_tls_cert: str = ""
    temporal_tls_key: str = ""
    temporal_tls_server_name: str = ""
    #: An API key, sent as a bearer token with every call (Temporal Cloud's, or a proxy's).
    temporal_api_key: str = ""
    #: Where people reach its web UI, for an external cluster (``temporal_ui_url``).
    temporal_ui: str = ""
    worker_metrics_port: int = 9101
    host_name: str = field(default_factory=socket.gethostname)
    libvirt_uri: str = "qemu:///system"
    domain_type: str = "auto"
    instance_prefix: str = "nimbus-"
    region: str = "RegionOne"
    token_ttl_seconds: int = 3600
    #: Login throttling (Keystone's ``lockout_failure_attempts`` and ``lockout_duration``):
    #: after this many failed password checks in a row, each within the duration of the
    #: one before, the user's password is refused for the duration. 0 attempts: never.
    lockout_failure_attempts: int = 5
    lockout_duration_seconds: int = 300
    power_sync_seconds: float = 2.0
    #: How long a SOFT reboot waits for the guest to power off before a HARD one (Nova's
    #: reboot_timeout is 120 s; the default guest has no ACPI handler and never does).
    soft_reboot_seconds: float = 60.0
    database_url: str = ""
    image_size_cap: int = 1 << 40
    ceph_conf: str = ""
    ceph_keyring: str = ""
    ceph_client: str = "admin"
    ceph_osd_size_gib: int = 20
    #: The nftables tables (inet and bridge) holding security groups and uplink guards.
    nft_table: str = "nimbus"
    #: The external network made at bootstrap: a host-only bridge with this private range.
    external_cidr: str = "172.24.4.0/24"
    #: Forward between the external network and the host's uplink: off unless turned on.
    external_uplink: bool = False
    #: This host's VXLAN endpoint address (other hosts reach its networks there); empty:
    #: the underlay bridge's first address when ``nimbus up`` runs the host, else loopback.
    vtep_address: str = ""
    #: Whether this host's worker also runs the workflows and the host-independent
    #: activities (the control queue), and whether DHCP servers and routers may be placed
    #: on it (it carries the external network). A compute-only host has neither.
    control_worker: bool = True
    network_node: bool = True
    #: The network ``nimbus up`` makes for VXLAN between the hosts it runs on this
    #: machine (``nimbus host add``): a bridge with this range's first address, the VTEP
    #: of the cloud's own host unless ``NIMBUS_VTEP_ADDRESS`` names another.
    underlay_cidr: str = "172.31.254.0/24"
    underlay_bridge: str = "nimbusvtep0"
    #: How often the reconciler compares the rows with the hosts and Ceph (seconds).
    reconcile_seconds: float = 300.0
    #: Memory this host keeps for itself, out of the scheduler's reach (Nova's
    #: reserved_host_memory_mb), and its availability zone.
    reserved_host_memory_mib: int = 512
    availability_zone: str = "nova"
    #: The RADOS Gateway's port on 127.0.0.1. 0: chosen free when the gateway is first
    #: made and kept in its conf (``nimbus up`` passes the port it uses to its children).
    rgw_port: int = 0
    #: The object store's public URL up to ``/v1`` (a proxy in front of the gateway, or an
    #: external cluster's gateway); default: ours, ``http://127.0.0.1:<rgw_port>/swift/v1``.
    object_store_url: str = ""
    #: The PaaS router (HAProxy): where it listens for app traffic, and the domain under
    #: which apps get their host names (``<app>.<apps_domain>``). ``*.localhost`` resolves
    #: to loopback by itself, so the printed URLs work on this machine as they are.
    router_host: str = "127.0.0.1"
    router_port: int = 8780
    apps_domain: str = "apps.localhost"
    #: How often an app's supervisor looks at its instances, and Cloud Foundry's restart
    #: backoff for crashed ones (first wait after the immediate restarts, and the cap).
    paas_tick_seconds: float = 2.0
    paas_backoff_first: float = 30.0
    paas_backoff_cap: float = 960.0
    #: How long a running instance's health check may fail before it is replaced.
    paas_liveness_grace: float = 10.0
    #: How long an instance taken out of the router keeps serving its requests in flight.
    paas_drain_seconds: float = 5.0
    #: How long a resource may stay in a transitional state (BUILD, ``attaching``...)
    #: before the operation counts as stuck (``NimbusOperationStuck``).
    stuck_operation_seconds: float = 900.0
    #: What a host may allocate per vCPU and per MiB of memory it has (Nova's initial
    #: allocation ratios): its worker reports them, and the scheduler places by them.
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    #: The dashboard (a web UI, a client of the API) listens here.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8771
    #: Prometheus and Alertmanager (run by ``nimbus up``) and the metrics ports of the
    #: components they scrape that have none of Nimbus's own.
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    temporal_metrics_port: int = 8234
    ceph_metrics_port: int = 9283
    router_metrics_port: int = 8781
    #: Where Alertmanager posts alerts (its webhook receiver); none if empty.
    alert_webhook_url: str = ""
    #: Default quota of every resource (see ``QUOTA_DEFAULTS``).
    quota_defaults: dict[str, int] = field(default_factory=lambda: dict(QUOTA_DEFAULTS))

    @property
    def scheme(self) -> str:
        """How the API and the dashboard are reached: ``https``, or ``http`` without TLS."""
        return "https" if self.tls else "http"

    @property
    def public_url(self) -> str:
        return f"{self.scheme}://{self.api_host}:{self.api_port}"

    @property
    def tls_dir(self) -> Path:
        """The cloud's CA (certificate and key) and the API's and dashboard's certificate."""
        return self.data_dir / "tls"

    @property
    def tls_ca_cert(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def tls_ca_key(self) -> Path:
        return self.tls_dir / "ca.key"

    @property
    def tls_cert(self) -> Path:
        return self.tls_dir / "server.crt"

    @property
    def tls_key(self) -> Path:
        return self.tls_dir / "server.key"

    @property
    def api_verify(self) -> str | bool:
        """What a client of the API or the dashboard checks their certificate against
        (requests' ``verify``): the cloud's CA, or the system's CAs when TLS is off."""
        return str(self.tls_ca_cert) if self.tls else True

    @property
    def object_store_endpoint(self) -> str | None:
        """Swift's URL without the account (``.../v1``); ``None`` where there is none."""
        if self.object_store_url:
            return self.object_store_url.rstrip("/")
        if self.rgw_port:
            return f"http://127.0.0.1:{self.rgw_port}/{SWIFT_PREFIX}/v1"
        return None

    @property
    def s3_endpoint(self) -> str | None:
        """The gateway's S3 URL (scheme, host and port of the object store's URL), or
        ``None`` where there is no object store."""
        swift = self.object_store_endpoint
        if swift is None:
            return None
        parts = urllib.parse.urlsplit(swift)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.scheme}://{self.dashboard_host}:{self.dashboard_port}"

    @property
    def temporal_address(self) -> str:
        return f"{self.temporal_host}:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str:
        return self.temporal_ui or f"http://{self.temporal_host}:{self.temporal_ui_port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'nimbus.db'}"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def metadata_socket(self) -> Path:
        """Where this host's metadata service listens for the networks' metadata proxies."""
        return self.run_dir / "metadata.sock"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def ceph_dir(self) -> Path:
        """The cluster Nimbus runs itself when no external one is configured."""
        return self.data_dir / "ceph"

    @property
    def own_ceph(self) -> bool:
        return not self.ceph_conf

    @property
    def ceph_conf_path(self) -> str:
        return self.ceph_conf or str(self.ceph_dir / "ceph.conf")

    @property
    def ceph_keyring_path(self) -> str:
        return self.ceph_keyring or str(self.ceph_dir / f"ceph.client.{self.ceph_client}.keyring")

    @property
    def staging_dir(self) -> Path:
        """Uploads land here before an import workflow moves them into the block store."""
        return self.data_dir / "staging"

    @property
    def instances_dir(self) -> Path:
        return self.data_dir / "instances"

    @property
    def network_dir(self) -> Path:
        """dnsmasq files and the records of this host's network devices."""
        return self.data_dir / "network"

    @property
    def paas_dir(self) -> Path:
        """Packages, staging work, droplets on their way to the image store, the router."""
        return self.data_dir / "paas"

    @property
    def apps_url_port(self) -> str:
        """``:<port>`` for app URLs, empty on port 80."""
        return "" if self.router_port == 80 else f":{self.router_port}"

    @property
    def host_queue(self) -> str:
        return host_queue(self.host_name)


#: The task queue of workflows and of activities that need no particular host.
CONTROL_QUEUE = "nimbus-control"


def host_queue(host: str) -> str:
    """The task queue of activities bound to one hypervisor host."""
    return f"host-{host}"


def _flag(value: str) -> bool:
    """An on/off setting: 1, true, yes and on (any case) are on."""
    return value.strip().lower() in ("1", "true", "yes", "on")


_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "NIMBUS_DATA_DIR": ("data_dir", Path),
    "NIMBUS_API_HOST": ("api_host", str),
    "NIMBUS_API_PORT": ("api_port", int),
    "NIMBUS_TLS": ("tls", _flag),
    "NIMBUS_WORKFLOW_SANDBOX": ("workflow_sandbox", _flag),
    "NIMBUS_TEMPORAL_HOST": ("temporal_host", str),
    "NIMBUS_TEMPORAL_PORT": ("temporal_port", int),
    "NIMBUS_TEMPORAL_UI_PORT": ("temporal_ui_port", int),
    "NIMBUS_TEMPORAL_NAMESPACE": ("temporal_namespace", str),
    "NIMBUS_TEMPORAL_MANAGED": ("temporal_managed", _flag),
    "NIMBUS_TEMPORAL_TLS": ("temporal_tls", _flag),
    "NIMBUS_TEMPORAL_TLS_CA": ("temporal_tls_ca", str),
    "NIMBUS_TEMPORAL_TLS_CERT": ("temporal_tls_cert", str),
    "NIMBUS_TEMPORAL_TLS_KEY": ("temporal_tls_key", str),
    "NIMBUS_TEMPORAL_TLS_SERVER_NAME": ("temporal_tls_server_name", str),
    "NIMBUS_TEMPORAL_API_KEY": ("temporal_api_key", str),
    "NIMBUS_TEMPORAL_UI": ("temporal_ui", str),
    "NIMBUS_WORKER_METRICS_PORT": ("worker_metrics_port", int),
    "NIMBUS_HOST_NAME": ("host_name", str),
    "NIMBUS_LIBVIRT_URI": ("libvirt_uri", str),
    "NIMBUS_DOMAIN_TYPE": ("domain_type", str),
    "NIMBUS_INSTANCE_PREFIX": ("instance_prefix", str),
    "NIMBUS_REGION": ("region", str),
    "NIMBUS_TOKEN_TTL": ("token_ttl_seconds", int),
    "NIMBUS_LOCKOUT_FAILURE_ATTEMPTS": ("lockout_failure_attempts", int),
    "NIMBUS_LOCKOUT_DURATION": ("lockout_duration_seconds", int),
    "NIMBUS_POWER_SYNC_SECONDS": ("power_sync_seconds", float),
    "NIMBUS_SOFT_REBOOT_SECONDS": ("soft_reboot_seconds", float),
    "NIMBUS_DATABASE_URL": ("database_url", str),
    "NIMBUS_IMAGE_SIZE_CAP": ("image_size_cap", int),
    "NIMBUS_CEPH_CONF": ("ceph_conf", str),
    "NIMBUS_CEPH_KEYRING": ("ceph_keyring", str),
    "NIMBUS_CEPH_CLIENT": ("ceph_client", str),
    "NIMBUS_CEPH_OSD_SIZE_GIB": ("ceph_osd_size_gib", int),
    "NIMBUS_NFT_TABLE": ("nft_table", str),
    "NIMBUS_EXTERNAL_CIDR": ("external_cidr", str),
    "NIMBUS_EXTERNAL_UPLINK": ("external_uplink", _flag),
    "NIMBUS_VTEP_ADDRESS": ("vtep_address", str),
    "NIMBUS_CONTROL_WORKER": ("control_worker", _flag),
    "NIMBUS_NETWORK_NODE": ("network_node", _flag),
    "NIMBUS_UNDERLAY_CIDR": ("underlay_cidr", str),
    "NIMBUS_UNDERLAY_BRIDGE": ("underlay_bridge", str),
    "NIMBUS_RECONCILE_SECONDS": ("reconcile_seconds", float),
    "NIMBUS_RESERVED_HOST_MEMORY_MIB": ("reserved_host_memory_mib", int),
    "NIMBUS_AVAILABILITY_ZONE": ("availability_zone", str),
    "NIMBUS_RGW_PORT": ("rgw_port", int),
    "NIMBUS_OBJECT_STORE_URL": ("object_store_url", str),
    "NIMBUS_ROUTER_HOST": ("router_host", str),
    "NIMBUS_ROUTER_PORT": ("router_port", int),
    "NIMBUS_APPS_DOMAIN": ("apps_domain", str),
    "NIMBUS_PAAS_TICK": ("paas_tick_seconds", float),
    "NIMBUS_PAAS_BACKOFF_FIRST": ("paas_backoff_first", float),
    "NIMBUS_PAAS_BACKOFF_CAP": ("paas_backoff_cap", float),
    "NIMBUS_PAAS_LIVENESS_GRACE": ("paas_liveness_grace", float),
    "NIMBUS_PAAS_DRAIN": ("paas_drain_seconds", float),
    "NIMBUS_STUCK_OPERATION_SECONDS": ("stuck_operation_seconds", float),
    "NIMBUS_CPU_ALLOCATION_RATIO": ("cpu_allocation_ratio", float),
    "NIMBUS_RAM_ALLOCATION_RATIO": ("ram_allocation_ratio", float),
    "NIMBUS_DASHBOARD_HOST": ("dashboard_host", str),
    "NIMBUS_DASHBOARD_PORT": ("dashboard_port", int),
    "NIMBUS_PROMETHEUS_PORT": ("prometheus_port", int),
    "NIMBUS_ALERTMANAGER_PORT": ("alertmanager_port", int),
    "NIMBUS_TEMPORAL_METRICS_PORT": ("temporal_metrics_port", int),
    "NIMBUS_CEPH_METRICS_PORT": ("ceph_metrics_port", int),
    "NIMBUS_ROUTER_METRICS_PORT": ("router_metrics_port", int),
    "NIMBUS_ALERT_WEBHOOK_URL": ("alert_webhook_url", str),
}


def _quota_key(resource: str) -> str:
    return f"NIMBUS_QUOTA_{resource.upper()}"


def _quota_defaults(env: Mapping[str, str]) -> dict[str, int]:
    """``QUOTA_DEFAULTS`` with the ``NIMBUS_QUOTA_*`` variables that are set."""
    return {
        name: int(env[_quota_key(name)]) if env.get(_quota_key(name)) else default
        for name, default in QUOTA_DEFAULTS.items()
    }


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``NIMBUS_*`` variables over the defaults."""
    env = os.environ if environ is None else environ
    values = {attr: cast(env[key]) for key, (attr, cast) in _ENV.items() if env.get(key)}
    values["quota_defaults"] = _quota_defaults(env)
    settings = Settings(**values)
    if not settings.data_dir.is_absolute():
        settings = Settings(**{**values, "data_dir": settings.data_dir.resolve()})
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``NIMBUS_*`` variables that reproduce ``settings`` in a child process."""
    env = {key: str(getattr(settings, attr)) for key, (attr, _) in _ENV.items()}
    quotas = {_quota_key(name): str(limit) for name, limit in settings.quota_defaults.items()}
    return {**env, **quotas}
