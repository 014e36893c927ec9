"""The unmodified ``openstack`` CLI drives the identity admin API over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.support import oscli
from tests.support.identity import IdentityApp, identity_app
from tests.support.temporal_server import free_port

pytestmark = pytest.mark.one_database


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[IdentityApp]:
    for idp in identity_app(tmp_path, api_port=free_port(), database_url=database_url):
        server = make_server("127.0.0.1", idp.settings.api_port, idp.app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield idp
        server.shutdown()


def openstack(
    idp: IdentityApp,
    *args: str,
    user: str = "admin",
    password: str = "admin-secret",
    project: str = "admin",
    auth_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OS_AUTH_URL": idp.settings.public_url + "/identity/v3",
        "OS_USERNAME": user,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": idp.settings.region,
    }
    env.pop("OS_CLOUD", None)
    if auth_env is not None:  # another way to authenticate than a password
        for name in ("OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME"):
            env.pop(name, None)
        env.pop("OS_PROJECT_DOMAIN_NAME", None)
        env.update(auth_env)
    return oscli.run(list(args), env, 120)


def cli(idp: IdentityApp, *args: str, **kw: Any) -> Any:
    result = openstack(idp, *args, "-f", "json", **kw)
    assert result.returncode == 0, (args, result.stderr)
    return json.loads(result.stdout) if result.stdout.strip() else None


def ok(idp: IdentityApp, *args: str, **kw: Any) -> None:
    result = openstack(idp, *args, **kw)
    assert result.returncode == 0, (args, result.stderr)


def test_projects_users_and_roles_with_the_cli(served: IdentityApp) -> None:
    s = served
    assert [d["Name"] for d in cli(s, "domain", "list")] == ["Default"]
    project = cli(s, "project", "create", "--domain", "default", "--description", "d", "p1")
    assert project["name"] == "p1" and project["domain_id"] == "default"
    ok(s, "project", "set", "--description", "renamed", "p1")
    assert cli(s, "project", "show", "p1")["description"] == "renamed"
    assert "p1" in [p["Name"] for p in cli(s, "project", "list")]
    user = cli(s, "user", "create", "--password", "carol-pw", "--project", "p1", "carol")
    assert user["default_project_id"] == project["id"] and "password" not in user
    assert "carol" in [u["Name"] for u in cli(s, "user", "list")]
    assert {"admin", "member", "reader"} <= {r["Name"] for r in cli(s, "role", "list")}
    ok(s, "role", "add", "--user", "carol", "--project", "p1", "member")
    listed = cli(s, "role", "assignment", "list", "--user", "carol", "--project", "p1", "--names")
    assert [(a["Role"], a["User"], a["Project"]) for a in listed] == [
        ("member", "carol@Default", "p1@Default")
    ]


def test_a_new_user_works_and_changes_its_password_with_the_cli(served: IdentityApp) -> None:
    s = served
    cli(s, "project", "create", "p1")
    cli(s, "user", "create", "--password", "carol-pw", "--project", "p1", "carol")
    ok(s, "role", "add", "--user", "carol", "--project", "p1", "member")
    carol = {"user": "carol", "password": "carol-pw", "project": "p1"}
    assert cli(s, "server", "list", **carol) == []
    token = cli(s, "token", "issue", **carol)
    assert token["project_id"] == cli(s, "project", "show", "p1")["id"]
    ok(
        s,
        "user",
        "password",
        "set",
        "--password",
        "carol-new",
        "--original-password",
        "carol-pw",
        **carol,
    )
    assert openstack(s, "token", "issue", **carol).returncode != 0
    carol["password"] = "carol-new"
    token = cli(s, "token", "issue", **carol)
    ok(s, "token", "revoke", token["id"], **carol)
    assert openstack(s, "user", "list", **carol).returncode != 0  # a member is not an admin


def test_catalog_views_with_the_cli(served: IdentityApp) -> None:
    services = {x["Type"] for x in cli(served, "service", "list")}
    assert {"identity", "compute", "image", "network"} <= services
    endpoints = cli(served, "endpoint", "list", "--interface", "public")
    assert {e["Service Type"] for e in endpoints} == services
    assert {c["Type"] for c in cli(served, "catalog", "list")} == services
    assert [r["Region"] for r in cli(served, "region", "list")] == [served.settings.region]


def test_project_and_user_delete_with_the_cli(served: IdentityApp) -> None:
    cli(served, "project", "create", "p1")
    cli(served, "user", "create", "--password", "x", "carol")
    ok(served, "user", "delete", "carol")
    ok(served, "project", "delete", "p1")
    assert openstack(served, "project", "show", "p1").returncode != 0


def test_an_application_credential_with_the_cli(served: IdentityApp) -> None:
    """Made by alice from her project login, used by an application with only its id and
    secret (``v3applicationcredential``), and ended by its deletion."""
    s = served
    alice = {"user": "alice", "password": "alice-secret", "project": "demo"}
    made = cli(s, "application", "credential", "create", "--role", "reader", "ci-app", **alice)
    assert (
        made["Name"] == "ci-app"
        and made["Secret"]
        and [r["name"] for r in made["Roles"]] == ["reader"]
    )
    listed = cli(s, "application", "credential", "list", **alice)
    assert [c["Name"] for c in listed] == ["ci-app"]
    assert cli(s, "application", "credential", "show", "ci-app", **alice)["ID"] == made["ID"]
    app_env = {
        "OS_AUTH_TYPE": "v3applicationcredential",
        "OS_APPLICATION_CREDENTIAL_ID": made["ID"],
        "OS_APPLICATION_CREDENTIAL_SECRET": made["Secret"],
    }
    token = cli(s, "token", "issue", auth_env=app_env)
    assert token["project_id"] == made["Project ID"]
    ok(s, "application", "credential", "delete", "ci-app", **alice)
    refused = openstack(s, "token", "issue", auth_env=app_env)
    assert refused.returncode != 0 and "401" in refused.stderr, refused.stderr
