"""The files of a Nimbus-owned Ceph cluster: its conf, its keyrings, and reading them back.

Everything here is pure text and paths (plus ``ceph-authtool`` to make keys), so the
settings that matter for a single-node cluster are in one place and testable without
daemons. ``ceph_access`` also reads the conf and keyring of an existing external cluster.
"""

from __future__ import annotations

import configparser
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from activities.storage.access import CephAccess
from nimbus.errors import BackendUnavailable, InvalidSpec

MON_ID, MGR_ID, OSD_ID = "a", "x", 0
ADMIN = "admin"
DEFAULT_MON_PORT = 6789
#: One monitor in ``mon_host``: a bracketed address vector (which may hold bracketed IPv6
#: hosts) or a bare address.
MON_GROUP = r"\[v[12]:(?:[^\[\]]|\[[^\]]*\])*\]|(?:\[[^\]]*\]|[^\s,;\[\]])+"

#: Keys made at creation: cephx entity -> caps. The mon imports all of them at mkfs, so the
#: mgr and the OSD can authenticate from their first start.
ENTITIES = {
    "mon.": {"mon": "allow *"},
    f"client.{ADMIN}": {"mon": "allow *", "osd": "allow *", "mgr": "allow *", "mds": "allow *"},
    f"mgr.{MGR_ID}": {"mon": "allow profile mgr", "osd": "allow *", "mds": "allow *"},
    f"osd.{OSD_ID}": {"mon": "allow profile osd", "mgr": "allow profile osd", "osd": "allow *"},
}


@dataclass(frozen=True)
class CephPaths:
    """Where a cluster's files live inside its directory."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @property
    def admin_keyring(self) -> Path:
        """The only key clients need (``client.admin``)."""
        return self.root / "ceph.client.admin.keyring"

    @property
    def daemon_keyring(self) -> Path:
        """Every key, imported by the mon at mkfs and read by the mgr and the OSD."""
        return self.root / "daemons.keyring"

    @property
    def monmap(self) -> Path:
        return self.root / "monmap"

    @property
    def created(self) -> Path:
        """Written last at creation: without it the directory is a half-made cluster."""
        return self.root / "created"

    def data(self, daemon: str) -> Path:
        """A daemon's data folder, ``mon.a``, ``mgr.x``, ``osd.0``."""
        return self.root / daemon


@dataclass(frozen=True)
class ClusterIdentity:
    """What must never change once a cluster exists: its fsid and monitor port."""

    fsid: str
    mon_port: int


def render_conf(
    paths: CephPaths, ident: ClusterIdentity, log_dir: Path, run_dir: Path, osd_bytes: int
) -> str:
    """The cluster's ``ceph.conf``. Monitors speak only msgr v1 on ``mon_port``, so the
    plain ``host:port`` QEMU and libvirt pass to librbd reaches them; all on loopback."""
    daemon_keyring = paths.daemon_keyring
    return f"""[global]
fsid = {ident.fsid}
mon_host = [v1:127.0.0.1:{ident.mon_port}]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr2 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
paxos_propose_interval = 0.1
mon_data_avail_warn = 10
rbd_default_features = 1
log_file = {log_dir}/$cluster-$name.log
run_dir = {run_dir}
admin_socket = {run_dir}/$cluster-$name.asok

[mon]
mon_data = {paths.root}/mon.$id
keyring = {paths.root}/mon.$id/keyring

[mgr]
mgr_data = {paths.root}/mgr.$id
keyring = {daemon_keyring}
mgr_initial_modules = iostat

[osd]
osd_data = {paths.root}/osd.$id
keyring = {daemon_keyring}
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = {osd_bytes}
osd_memory_target = 1073741824

[client]
keyring = {paths.admin_keyring}
log_file =
admin_socket =
"""


def read_identity(conf: Path) -> ClusterIdentity:
    """The fsid and monitor port of a conf this module wrote."""
    section = read_conf(conf)["global"]
    monitors = parse_monitors(section.get("mon_host", ""))
    if "fsid" not in section or not monitors:
        raise InvalidSpec(f"{conf} has no fsid or mon_host")
    return ClusterIdentity(section["fsid"], int(monitors[0].rsplit(":", 1)[1]))


class _ConfParser(configparser.ConfigParser):
    """Ceph treats ``mon host`` and ``mon_host`` as one key; so does this parser."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr.strip().replace(" ", "_")


def read_conf(path: Path) -> configparser.ConfigParser:
    """Parse a ceph.conf (INI; keys may be spelt with spaces or underscores)."""
    parser = _ConfParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text())
    except (OSError, configparser.Error) as exc:
        raise InvalidSpec(f"cannot read {path}: {exc}") from exc
    if not parser.has_section("global"):
        parser.add_section("global")
    return parser


def parse_monitors(mon_host: str) -> list[str]:
    """``host:port`` per monitor from a ``mon_host`` value.

    Accepts every spelling Ceph does: ``10.0.0.1``, ``10.0.0.1:6789``,
    ``[v2:10.0.0.1:3300,v1:10.0.0.1:6789]``, lists separated by commas, spaces or
    semicolons. Of a monitor's addresses the v1 one is chosen (QEMU assumes v1 for any port
    but 3300); a bare host gets port 6789.
    """
    monitors = []
    for group in re.findall(MON_GROUP, mon_host):
        vector = group.startswith("[v")
        addresses = [a.strip() for a in (group[1:-1] if vector else group).split(",")]
        v1 = [a for a in addresses if a.startswith("v1:")]
        monitors.append(_with_port((v1 or addresses)[0]))
    return monitors


def _with_port(address: str) -> str:
    """``host:port`` from ``[v1:|v2:]host[:port][/nonce]``; IPv6 hosts get brackets."""
    address = re.sub(r"^v[12]:", "", address).split("/", 1)[0]
    if address.startswith("["):
        return address if "]:" in address else f"{address}:{DEFAULT_MON_PORT}"
    if address.count(":") == 1:
        return address
    return f"[{address}]:{DEFAULT_MON_PORT}" if ":" in address else f"{address}:{DEFAULT_MON_PORT}"


def gen_key() -> str:
    """A fresh cephx secret (base64), from ``ceph-authtool``."""
    try:
        proc = subprocess.run(
            ["ceph-authtool", "--gen-print-key"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendUnavailable(f"ceph-authtool: {exc}") from exc
    if proc.returncode != 0:
        raise BackendUnavailable(f"ceph-authtool: {proc.stderr.strip()}")
    return proc.stdout.strip()


def render_keyring(keys: dict[str, str]) -> str:
    """A keyring holding ``entity -> key``, with each entity's caps from ``ENTITIES``."""
    blocks = []
    for entity, key in keys.items():
        caps = "".join(f'\tcaps {k} = "{v}"\n' for k, v in ENTITIES[entity].items())
        blocks.append(f"[{entity}]\n\tkey = {key}\n{caps}")
    return "\n".join(blocks)


def read_key(keyring: Path, client: str) -> str:
    """The secret of ``client.<client>`` in a keyring; ``InvalidSpec`` if it is not there."""
    section = f"client.{client}"
    parser = read_conf(keyring)
    if not parser.has_option(section, "key"):
        raise InvalidSpec(f"{keyring} has no key for {section}")
    return parser.get(section, "key").strip()


def ceph_access(conf: Path, keyring: Path, client: str = ADMIN) -> CephAccess:
    """How QEMU reaches this cluster: monitors from the conf, the client's key from the
    keyring. Works for the Nimbus-owned cluster and for any external one."""
    monitors = parse_monitors(read_conf(conf)["global"].get("mon_host", ""))
    if not monitors:
        raise InvalidSpec(f"{conf} names no monitors (mon_host)")
    return CephAccess(monitors=tuple(monitors), user=client, key=read_key(keyring, client))
