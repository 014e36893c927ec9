"""Identity administration with the unmodified ``openstack`` CLI against ``nimbus up``: an
admin makes a project and a user, and that user then works and changes its password."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cloud import Cloud

pytestmark = pytest.mark.e2e


def as_user(cloud: Cloud, user: str, password: str, project: str, *args: str) -> Any:
    """``openstack <args>`` as another user of the cloud, without its clouds.yaml."""
    env = {k: v for k, v in cloud.env.items() if k not in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")}
    env.update(
        OS_AUTH_URL=cloud.url + "/identity/v3",
        OS_CACERT=str(cloud.settings.tls_ca_cert),
        OS_USERNAME=user,
        OS_PASSWORD=password,
        OS_PROJECT_NAME=project,
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        OS_IDENTITY_API_VERSION="3",
        OS_REGION_NAME=cloud.settings.region,
    )
    exe = str(Path(sys.executable).parent / "openstack")
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)


def test_admin_makes_a_user_who_then_works_with_the_cli(cloud: Cloud) -> None:
    assert "Default" in [d["Name"] for d in cloud.openstack_json("domain", "list")]
    cloud.openstack_json("project", "create", "--description", "e2e", "idp1")
    assert cloud.openstack("project", "set", "--description", "e2e project", "idp1").returncode == 0
    assert cloud.openstack_json("project", "show", "idp1")["description"] == "e2e project"
    cloud.openstack_json("user", "create", "--password", "dora-pw", "--project", "idp1", "dora")
    assert "dora" in [u["Name"] for u in cloud.openstack_json("user", "list")]
    assert "member" in [r["Name"] for r in cloud.openstack_json("role", "list")]
    assert (
        cloud.openstack("role", "add", "--user", "dora", "--project", "idp1", "member").returncode
        == 0
    )
    listed = cloud.openstack_json(
        "role", "assignment", "list", "--user", "dora", "--project", "idp1", "--names"
    )
    assert [a["Role"] for a in listed] == ["member"]

    servers = as_user(cloud, "dora", "dora-pw", "idp1", "server", "list", "-f", "json")
    assert servers.returncode == 0 and json.loads(servers.stdout) == [], servers.stderr
    changed = as_user(
        cloud,
        "dora",
        "dora-pw",
        "idp1",
        "user",
        "password",
        "set",
        "--password",
        "dora-new",
        "--original-password",
        "dora-pw",
    )
    assert changed.returncode == 0, changed.stderr
    assert as_user(cloud, "dora", "dora-pw", "idp1", "token", "issue").returncode != 0
    issued = as_user(cloud, "dora", "dora-new", "idp1", "token", "issue", "-f", "json")
    token = json.loads(issued.stdout)["id"]
    revoked = as_user(cloud, "dora", "dora-new", "idp1", "token", "revoke", token)
    assert revoked.returncode == 0, revoked.stderr

    assert cloud.openstack("user", "delete", "dora").returncode == 0
    assert cloud.openstack("project", "delete", "idp1").returncode == 0
    assert cloud.openstack("project", "show", "idp1").returncode != 0
