"""The dashboard over the fake drivers: the real API served over HTTP, the dashboard its
client. Sign in and out (the tokens revoked), the session cookie's flags, CSRF, what a
reader sees, another project's server, and an action that reaches the server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from dashboard import create_dashboard
from dashboard.sessions import COOKIE
from tests.support.paas import stack
from tests.support.stack import Stack
from workflows.common import server_workflow_id

__all__ = ["stack"]


@pytest.fixture
def web(stack: Stack) -> Iterator[FlaskClient]:
    app = create_dashboard(stack.settings)
    app.testing = True
    with app.test_client() as client:
        yield client


def sign_in(web: FlaskClient, user: str, password: str | None = None) -> Any:
    """Fill in and send the sign-in form, as a browser does."""
    page = web.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page
    form = {"username": user, "password": password or f"{user}-secret", "domain": "Default"}
    return web.post("/login", data={**form, "csrf": token.group(1)})


def csrf(web: FlaskClient) -> str:
    page = web.get("/servers").get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def boot(stack: Stack, name: str, user: str = "alice") -> str:
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": stack.image_id()}}
    body["server"]["networks"] = "none"
    headers = {"X-Auth-Token": stack.token(user), "OpenStack-API-Version": "compute 2.37"}
    response = stack.client.post("/compute/v2.1/servers", json=body, headers=headers)
    assert response.status_code == 202, response.json
    server_id = str(response.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def test_without_a_session_every_page_leads_to_sign_in(web: FlaskClient) -> None:
    response = web.get("/servers")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    htmx = web.get("/servers/rows", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login"


def test_a_sign_in_from_another_site_is_refused(web: FlaskClient) -> None:
    form = {"username": "alice", "password": "alice-secret", "domain": "Default"}
    refused = web.post("/login", data={**form, "csrf": "made-up"})
    assert refused.status_code == 403 and COOKIE not in refused.headers.get("Set-Cookie", "")


def test_a_wrong_password_is_refused_with_a_message(web: FlaskClient) -> None:
    response = sign_in(web, "alice", "not-it")
    assert response.status_code == 401
    assert "The user name, password or domain is not right." in response.get_data(as_text=True)
    assert COOKIE not in response.headers.get("Set-Cookie", "")


def test_signing_in_sets_a_strict_http_only_cookie_holding_no_token(
    web: FlaskClient, stack: Stack
) -> None:
    response = sign_in(web, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    page = web.get("/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Quota" in text and "Instances" in text
    session = web.application.extensions["nimbus_sessions"]
    (held,) = session._sessions.values()
    assert held.token not in cookie and held.token not in text
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_the_servers_page_lists_the_projects_servers_and_no_others(
    web: FlaskClient, stack: Stack
) -> None:
    mine, theirs = boot(stack, "mine"), boot(stack, "theirs", user="bob")
    sign_in(web, "alice")
    page = web.get("/servers").get_data(as_text=True)
    assert "mine" in page and "theirs" not in page and "ACTIVE" in page
    shown = web.get(f"/servers/{mine}")
    assert shown.status_code == 200 and mine in shown.get_data(as_text=True)
    other = web.get(f"/servers/{theirs}")
    assert other.status_code == 404
    assert "Not found" in other.get_data(as_text=True)


def test_a_reader_sees_no_button_it_may_not_use(web: FlaskClient, stack: Stack) -> None:
    server_id = boot(stack, "mine")
    sign_in(web, "rita")
    page = web.get(f"/servers/{server_id}").get_data(as_text=True)
    assert "mine" in page and "Operations" in page
    assert "/actions/stop" not in page and "/actions/delete" not in page
    assert "Console log" not in page  # Nova lets members, not readers, read it
    web.post("/logout", data={"csrf": csrf(web)})
    sign_in(web, "alice")
    assert "/actions/stop" in web.get(f"/servers/{server_id}").get_data(as_text=True)


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
    web: FlaskClient, stack: Stack
) -> None:
    server_id = boot(stack, "mine")
    sign_in(web, "alice")
    refused = web.post(f"/servers/{server_id}/actions/stop", data={})
    assert refused.status_code == 403
    forged = web.post(f"/servers/{server_id}/actions/stop", data={"csrf": "guess"})
    assert forged.status_code == 403
    row = stack.server(server_id)
    assert row is not None and row.status == "ACTIVE" and row.task_state is None
    done = web.post(f"/servers/{server_id}/actions/stop", data={"csrf": csrf(web)})
    assert done.status_code == 302 and "Stopping" in done.headers["Location"]
    stack.wait_server(server_id, lambda s: s is not None and s.status == "SHUTOFF")


def test_signing_out_revokes_the_tokens(web: FlaskClient, stack: Stack) -> None:
    sign_in(web, "alice")
    session = web.application.extensions["nimbus_sessions"]
    (held,) = session._sessions.values()
    token = held.token
    answer = web.post("/logout", data={"csrf": csrf(web)})
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert session._sessions == {}
    check = stack.client.get(
        "/identity/v3/auth/tokens",
        headers={"X-Auth-Token": stack.token("admin"), "X-Subject-Token": token},
    )
    assert check.status_code == 404
    assert web.get("/servers").status_code == 302


def test_a_servers_page_shows_each_operation_with_its_steps_and_its_history(
    web: FlaskClient, stack: Stack
) -> None:
    server_id = boot(stack, "mine")
    sign_in(web, "alice")
    page = web.get(f"/servers/{server_id}").get_data(as_text=True)
    operations = page.split("<h2>Operations</h2>", 1)[1].split("<h2>Console log</h2>", 1)[0]
    assert "<td>create" in operations
    steps = re.findall(r'<span class="step">([^<]+)</span> ([0-9.]+) s', operations)
    assert {"create_root_disk", "launch_domain"} <= {name for name, _ in steps}, operations
    assert "workflows?query=RunId%3D%22" in operations


def launch(web: FlaskClient, stack: Stack, **fields: str) -> Any:
    form = {
        "csrf": csrf(web),
        "name": "web-1",
        "image": stack.image_id(),
        "flavor": "1",
        "network": "",
        "count": "1",
        **fields,
    }
    return web.post("/servers/launch", data=form)


def test_launching_a_server_from_the_form(web: FlaskClient, stack: Stack) -> None:
    sign_in(web, "alice")
    form = web.get("/servers/launch")
    assert form.status_code == 200 and "nimbus-guest" in form.get_data(as_text=True)
    made = launch(web, stack, user_data="#!/bin/sh\necho hi\n")
    assert made.status_code == 302
    server_id = made.headers["Location"].rsplit("/", 1)[1]
    stack.finish(server_workflow_id(server_id, "boot"))
    row = stack.server(server_id)
    assert row is not None and row.name == "web-1" and row.status == "ACTIVE"
    assert row.user_data is not None


def test_the_launch_form_starts_with_the_image_it_was_opened_for(
    web: FlaskClient, stack: Stack
) -> None:
    sign_in(web, "alice")
    image_id = stack.image_id()
    page = web.get(f"/servers/launch?image={image_id}").get_data(as_text=True)
    assert f'<option value="{image_id}" selected>' in page
    assert 'value="default" checked' in page  # the rest of the form as it always starts
    assert f'"{image_id}" selected' not in web.get("/servers/launch").get_data(as_text=True)


def test_the_apis_refusal_is_shown_on_the_form_and_nothing_is_made(
    web: FlaskClient, stack: Stack
) -> None:
    sign_in(web, "alice")
    unnamed = launch(web, stack, name="")
    assert unnamed.status_code == 400 and "Give the server a name." in unnamed.get_data(
        as_text=True
    )
    too_many = launch(web, stack, count="50")
    text = too_many.get_data(as_text=True)
    assert too_many.status_code == 403 and 'id="launch-error"' in text and "uota" in text
    assert 'value="web-1"' in text  # what was typed is kept
    assert "web-1" not in web.get("/servers").get_data(as_text=True)


def test_a_reader_gets_no_launch_form(web: FlaskClient) -> None:
    sign_in(web, "rita")
    assert "Launch a server" not in web.get("/servers").get_data(as_text=True)
    assert web.get("/servers/launch").status_code == 403


def test_a_volume_made_attached_and_detached_and_a_floating_ip_given_from_the_pages(
    web: FlaskClient, stack: Stack
) -> None:
    from tests.support.neutron import Neutron

    admin, alice = Neutron(stack, "admin"), Neutron(stack, "alice")
    external = admin.network("public", **{"router:external": True})
    admin.subnet(external["id"], "172.24.4.0/24", enable_dhcp=False)
    network = alice.network("dash-net")
    subnet = alice.subnet(network["id"])
    router = alice.make("router", name="r", external_gateway_info={"network_id": external["id"]})
    assert alice.put(f"routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    sign_in(web, "alice")
    made = launch(web, stack, name="dash-web", network=network["id"])
    server_id = made.headers["Location"].rsplit("/", 1)[1]
    stack.finish(server_workflow_id(server_id, "boot"))

    token = csrf(web)
    assert (
        web.post("/volumes", data={"csrf": token, "name": "data", "size": "1"}).status_code == 302
    )
    volumes = f"/volume/v3/{alice.project_id}/volumes/detail"
    listed = stack.client.get(volumes, headers=alice.h).json["volumes"]
    (volume,) = [v for v in listed if v["name"] == "data"]
    shown = f"/volume/v3/{alice.project_id}/volumes/{volume['id']}"
    deadline = time.monotonic() + 10
    while stack.client.get(shown, headers=alice.h).json["volume"]["status"] != "available":
        assert time.monotonic() < deadline, "the volume never became available"
        time.sleep(0.05)
    assert "data" in web.get("/volumes").get_data(as_text=True)
    attached = web.post(
        f"/servers/{server_id}/volumes", data={"csrf": token, "volume_id": volume["id"]}
    )
    assert attached.status_code == 302 and "Volume+attached" in attached.headers["Location"]
    page = web.get(f"/servers/{server_id}").get_data(as_text=True)
    assert f"{volume['id']} on /dev/vdb" in page

    given = web.post(
        f"/servers/{server_id}/floating-ip", data={"csrf": token, "floating_ip_id": ""}
    )
    assert given.status_code == 302 and "associated" in given.headers["Location"], given.headers
    page = web.get(f"/servers/{server_id}").get_data(as_text=True)
    floating = page.split('id="floating-ips">', 1)[1].split("</dd>", 1)[0]
    assert "172.24.4." in floating

    detached = web.post(f"/servers/{server_id}/volumes/{volume['id']}/detach", data={"csrf": token})
    assert detached.status_code == 302 and "Volume+detached" in detached.headers["Location"]


def test_an_apps_page_shows_its_instances_and_log_and_scales_it(
    web: FlaskClient, stack: Stack, tmp_path: Path
) -> None:
    from tests.support.paas import STATIC_SITE, PaasUser

    user = PaasUser(stack, "alice")
    app = user.push(tmp_path, "site", STATIC_SITE)
    user.wait_app(app["id"], lambda a: a["running_instances"] == 1)
    sign_in(web, "alice")
    assert "site" in web.get("/apps").get_data(as_text=True)
    page = web.get(f"/apps/{app['id']}").get_data(as_text=True)
    assert "1 of 1 running" in page and "RUNNING" in page
    assert "[STG]" in page  # the staging output is in the log panel
    tail = re.search(r'hx-get="(/apps/[^"]+/log-lines\?after=(\d+))"', page)
    assert tail, page
    more = web.get(tail.group(1).replace("&amp;", "&"))
    assert more.status_code == 200 and 'id="log-tail"' in more.get_data(as_text=True)

    scaled = web.post(f"/apps/{app['id']}/scale", data={"csrf": csrf(web), "instances": "2"})
    assert scaled.status_code == 302 and "Scaling+to+2" in scaled.headers["Location"]
    user.wait_app(app["id"], lambda a: a["running_instances"] == 2)
    assert "2 of 2 running" in web.get(f"/apps/{app['id']}").get_data(as_text=True)


def test_a_reader_follows_an_app_but_cannot_scale_it(
    web: FlaskClient, stack: Stack, tmp_path: Path
) -> None:
    from tests.support.paas import STATIC_SITE, PaasUser

    app = PaasUser(stack, "alice").push(tmp_path, "site", STATIC_SITE)
    sign_in(web, "rita")
    page = web.get(f"/apps/{app['id']}").get_data(as_text=True)
    assert "site" in page and 'id="log"' in page
    assert "/scale" not in page and "Roll back" not in page


def test_key_pairs_are_made_once_shown_imported_and_deleted(web: FlaskClient) -> None:
    sign_in(web, "alice")
    token = csrf(web)
    made = web.post("/keypairs", data={"csrf": token, "name": "made"})
    text = made.get_data(as_text=True)
    assert made.status_code == 200 and "PRIVATE KEY" in text and "shown this once" in text
    listed = web.get("/keypairs").get_data(as_text=True)
    assert "made" in listed and "PRIVATE KEY" not in listed
    public = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWVgMK0hRQvxBk3PDIk3fNTmSIhyRvl4lpMNvnbBkJu me@here"
    )
    imported = web.post("/keypairs", data={"csrf": token, "name": "mine", "public_key": public})
    assert imported.status_code == 302
    assert "mine" in web.get("/keypairs").get_data(as_text=True)
    twice = web.post("/keypairs", data={"csrf": token, "name": "mine", "public_key": public})
    assert "error=" in twice.headers["Location"]
    gone = web.post("/keypairs/mine/delete", data={"csrf": token})
    assert gone.status_code == 302 and "mine" not in web.get("/keypairs").get_data(as_text=True)
