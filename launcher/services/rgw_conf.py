"""The files of the RADOS Gateway Nimbus runs: its conf, its keyring, its port.

The gateway gets a conf of its own (the cluster's conf plus a ``[client.rgw.nimbus]``
section), so the cluster's conf stays exactly what ``ensure_ceph`` writes and the Keystone
settings live in one private file. Pure text and paths: testable without daemons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from launcher.services.ceph_conf import read_conf
from nimbus.config import SWIFT_PREFIX

RGW_ID = "nimbus"
RGW_ENTITY = f"client.rgw.{RGW_ID}"
#: What the gateway needs from the cluster: create its pools, read and write them.
RGW_CAPS = {"mon": "allow rw", "osd": "allow rwx"}
#: Keystone roles whose holders may use object storage. Ceph 16.2 knows no
#: ``rgw_keystone_accepted_reader_roles``: a reader is refused (401), since accepting it
#: here would let it write.
ACCEPTED_ROLES = ("member", "admin")
#: Validated tokens RGW keeps. None: a cached token would stay usable there after it is
#: revoked (or its user disabled) until it expires, so every Swift request asks Nimbus.
TOKEN_CACHE_SIZE = 0
#: Beast's worker threads (the default, 512, costs memory for nothing on one machine).
THREADS = 64


@dataclass(frozen=True)
class KeystoneAccess:
    """How the gateway validates Swift tokens against Nimbus identity.

    Attributes:
        url: the identity root (``http://host:port/identity``); RGW appends ``v3/...``.
        user: the service user RGW authenticates as, to validate users' tokens.
        project: that user's project.
        password_file: a private file holding the service user's password.
        token_file: a private file holding a token of the service user; the gateway then
            validates with it and never logs in (it takes priority over the password).
        domain: the domain of user and project.
    """

    url: str
    user: str
    project: str
    password_file: Path
    domain: str = "Default"
    token_file: Path | None = None


@dataclass(frozen=True)
class GatewayConf:
    """What the gateway's own section says."""

    port: int
    keyring: Path
    log_file: Path
    keystone: KeystoneAccess | None = None


def gateway_conf_path(ceph_dir: Path) -> Path:
    """The gateway's conf, next to the cluster's; private (it names the password file)."""
    return ceph_dir / "rgw.conf"


def gateway_keyring_path(ceph_dir: Path) -> Path:
    return ceph_dir / f"ceph.{RGW_ENTITY}.keyring"


def render_gateway_conf(cluster_conf: str, gateway: GatewayConf) -> str:
    """The cluster's conf text followed by the gateway's section."""
    lines = [
        f"[{RGW_ENTITY}]",
        f"keyring = {gateway.keyring}",
        f"rgw_frontends = beast endpoint=127.0.0.1:{gateway.port} tcp_nodelay=1",
        f"rgw_thread_pool_size = {THREADS}",
        f"log_file = {gateway.log_file}",
        "admin_socket =",
        f"rgw_swift_url_prefix = {SWIFT_PREFIX}",
        "rgw_swift_account_in_url = true",
        "rgw_s3_auth_use_keystone = false",
    ]
    if gateway.keystone is not None:
        lines += _keystone_lines(gateway.keystone)
    return cluster_conf.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"


def _keystone_lines(keystone: KeystoneAccess) -> list[str]:
    """Keystone v3 token validation. With implicit tenants off, the RGW user of a Keystone
    project is the project's id, in no RGW tenant: the uid S3 keys are added to."""
    return [
        f"rgw_keystone_url = {keystone.url}",
        "rgw_keystone_api_version = 3",
        f"rgw_keystone_admin_user = {keystone.user}",
        f"rgw_keystone_admin_password_path = {keystone.password_file}",
        f"rgw_keystone_admin_project = {keystone.project}",
        f"rgw_keystone_admin_domain = {keystone.domain}",
        f"rgw_keystone_accepted_roles = {','.join(ACCEPTED_ROLES)}",
        "rgw_keystone_implicit_tenants = false",
        "rgw_keystone_verify_ssl = false",
        f"rgw_keystone_token_cache_size = {TOKEN_CACHE_SIZE}",
    ] + ([f"rgw_keystone_admin_token_path = {keystone.token_file}"] if keystone.token_file else [])


def read_gateway_port(conf: Path) -> int | None:
    """The port of the gateway's beast endpoint in a conf this module wrote, if any."""
    if not conf.exists():
        return None
    parser = read_conf(conf)
    frontends = parser.get(RGW_ENTITY, "rgw_frontends", fallback="")
    match = re.search(r"endpoint=[^\s:]+:(\d+)", frontends)
    return int(match.group(1)) if match else None


def render_gateway_keyring(key: str) -> str:
    """The gateway's keyring (its key only; caps live in the monitor)."""
    return f"[{RGW_ENTITY}]\n\tkey = {key}\n"
