"""The dashboard's own routes walked like the APIs' (``test_policy_walk.py``): every route
with project demo's resources in it, without a session (sent to sign in), as demo's
reader (reads answer, no change goes through), as another project's member (demo's
resources are not found), and as demo's member without the CSRF token (refused). No row
of any table changes in any of these walks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import create_dashboard
from tests.api.test_dashboard_app import sign_in
from tests.api.test_policy_walk import World, _rows, build_world
from tests.support.paas import module_stack
from tests.support.stack import Stack

__all__ = ["module_stack"]

#: Routes anyone may use, or that only sign in and out.
OPEN = {"static", "health", "favicon", "auth.login", "auth.sign_in", "auth.logout"}
#: Path parameters that are not resource ids: what each walk puts there.
FIXED = {"action": "stop", "service": "compute", "container": "docs", "name": "a/b.txt"}
#: Pages that are not found where the cloud has no object store (as on the fake drivers).
NO_OBJECT_STORE = {"objects.container", "objects.download"}


def admin_only(endpoint: str) -> bool:
    """The admin pages answer 403 to anyone without the admin role."""
    return endpoint.startswith("admin.")


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack and one world for the module: every walk checks that it changed no row."""
    return module_stack


@pytest.fixture(scope="module")
def app(stack: Stack) -> Flask:
    dashboard = create_dashboard(stack.settings)
    dashboard.testing = True
    return dashboard


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    return build_world(stack)


def walk(app: Flask, world: World) -> Iterator[tuple[str, str, str]]:
    """Every (endpoint, method, url) of the dashboard but the open ones, filled in with
    demo's resources."""
    names = {"fip_id": "floating_ip_id", "keypair_name": "name"}
    ids = {names.get(k, k): v for k, v in world.ids.items()}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN:
            continue
        values = {arg: FIXED.get(arg) or ids[arg] for arg in rule.arguments}
        url = rule.build(values, append_unknown=False)
        assert url is not None
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url[1]


def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_of(web: FlaskClient) -> str:
    page = web.get("/").get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def send(web: FlaskClient, method: str, url: str, csrf: str | None) -> Any:
    data = {"csrf": csrf} if csrf else {}
    return web.open(url, method=method, data=data if method != "GET" else None)


def test_every_route_of_the_dashboard_is_walked(app: Flask, world: World) -> None:
    walked = {endpoint for endpoint, _, _ in walk(app, world)}
    assert {"compute.server", "compute.act", "storage.attach", "apps.scale"} <= walked


def test_without_a_session_every_route_leads_to_sign_in(
    app: Flask, world: World, stack: Stack
) -> None:
    before, web = _rows(stack), client(app)
    for endpoint, method, url in walk(app, world):
        response = send(web, method, url, None)
        assert response.status_code == 302, (endpoint, method, response.status_code)
        assert response.headers["Location"].startswith("/login"), endpoint
    assert _rows(stack) == before


def test_a_reader_reads_and_changes_nothing(app: Flask, world: World, stack: Stack) -> None:
    web = client(app)
    sign_in(web, "rita")
    token, before = csrf_of(web), _rows(stack)
    for endpoint, method, url in walk(app, world):
        response = send(web, method, url, token)
        assert response.status_code < 500, (endpoint, method, response.status_code)
        if method == "GET":
            members_only = endpoint in ("compute.launch_form", "compute.console")
            refused = members_only or admin_only(endpoint)
            expected = 404 if endpoint in NO_OBJECT_STORE else 403 if refused else 200
            assert response.status_code == expected, endpoint
    assert _rows(stack) == before


def test_another_project_finds_none_of_demos_resources(
    app: Flask, world: World, stack: Stack
) -> None:
    web = client(app)
    sign_in(web, "bob")
    token, before = csrf_of(web), _rows(stack)
    for endpoint, method, url in walk(app, world):
        response = send(web, method, url, token)
        assert response.status_code < 500, (endpoint, method, response.status_code)
        if any(v in url for v in world.ids.values() if len(v) > 8):
            refused = response.status_code == 404 or "error=" in response.headers.get(
                "Location", ""
            )
            refused = refused or (admin_only(endpoint) and response.status_code == 403)
            assert refused, (endpoint, method, response.status_code)
        text = response.get_data(as_text=True)
        # An id the URL itself gave may be named back ("... could not be found"), no other.
        assert not [v for v in world.secrets() if v in text and v not in url], endpoint
    assert _rows(stack) == before


def test_a_change_without_the_csrf_token_is_refused(app: Flask, world: World, stack: Stack) -> None:
    web = client(app)
    sign_in(web, "alice")
    before = _rows(stack)
    for endpoint, method, url in walk(app, world):
        if method == "GET":
            continue
        response = send(web, method, url, None)
        assert response.status_code == 403, (endpoint, method, response.status_code)
    assert _rows(stack) == before
