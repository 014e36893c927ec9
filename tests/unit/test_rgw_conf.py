"""The RADOS Gateway's conf: loopback only, Swift under its prefix, Keystone v3 for tokens."""

from __future__ import annotations

from pathlib import Path

from launcher.services.ceph_conf import read_conf
from launcher.services.rgw_conf import (
    RGW_ENTITY,
    GatewayConf,
    KeystoneAccess,
    read_gateway_port,
    render_gateway_conf,
)

CLUSTER = "[global]\nfsid = f\nmon_host = [v1:127.0.0.1:21000]\n\n[client]\nadmin_socket =\n"


def rendered(tmp_path: Path, keystone: KeystoneAccess | None = None) -> Path:
    gateway = GatewayConf(27001, tmp_path / "rgw.keyring", tmp_path / "radosgw.log", keystone)
    conf = tmp_path / "rgw.conf"
    conf.write_text(render_gateway_conf(CLUSTER, gateway))
    return conf


def test_the_gateway_keeps_the_cluster_conf_and_binds_loopback_on_its_port(tmp_path: Path):
    conf = rendered(tmp_path)
    parser = read_conf(conf)
    assert parser["global"]["mon_host"] == "[v1:127.0.0.1:21000]"
    assert parser[RGW_ENTITY]["rgw_frontends"] == "beast endpoint=127.0.0.1:27001 tcp_nodelay=1"
    assert parser[RGW_ENTITY]["rgw_swift_account_in_url"] == "true"
    assert read_gateway_port(conf) == 27001
    assert not parser.has_option(RGW_ENTITY, "rgw_keystone_url")


def test_keystone_validation_uses_v3_a_password_file_and_explicit_projects(tmp_path: Path):
    secret = tmp_path / "rgw-keystone.secret"
    keystone = KeystoneAccess("http://127.0.0.1:8770/identity", "rgw", "service", secret)
    section = read_conf(rendered(tmp_path, keystone))[RGW_ENTITY]
    assert section["rgw_keystone_url"] == "http://127.0.0.1:8770/identity"
    assert section["rgw_keystone_api_version"] == "3"
    assert section["rgw_keystone_admin_password_path"] == str(secret)
    assert section["rgw_keystone_admin_domain"] == "Default"
    assert section["rgw_keystone_accepted_roles"] == "member,admin"
    assert section["rgw_keystone_implicit_tenants"] == "false"
    assert "password =" not in (tmp_path / "rgw.conf").read_text()


def test_a_conf_without_a_gateway_has_no_port(tmp_path: Path):
    conf = tmp_path / "ceph.conf"
    conf.write_text(CLUSTER)
    assert read_gateway_port(conf) is None
    assert read_gateway_port(tmp_path / "missing.conf") is None


def test_a_token_file_is_validated_with_and_the_gateway_caches_no_token(tmp_path: Path):
    secret, token = tmp_path / "rgw-keystone.secret", tmp_path / "rgw-keystone.token"
    keystone = KeystoneAccess("http://127.0.0.1:8770/identity", "rgw", "service", secret)
    section = read_conf(rendered(tmp_path, keystone))[RGW_ENTITY]
    assert not section.get("rgw_keystone_admin_token_path")
    with_token = KeystoneAccess(
        "http://127.0.0.1:8770/identity", "rgw", "service", secret, token_file=token
    )
    section = read_conf(rendered(tmp_path, with_token))[RGW_ENTITY]
    assert section["rgw_keystone_admin_token_path"] == str(token)
    assert section["rgw_keystone_token_cache_size"] == "0"
