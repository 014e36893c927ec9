"""The dashboard's admin pages over the fake drivers, as the stack's admin: projects, users,
roles and quotas changed through the pages and read back through the APIs, the APIs'
refusals shown on the page, hypervisor usage; and a member or a reader turned away from
every admin route before any API call is made."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g, render_template
from flask.testing import FlaskClient

from dashboard import admin, create_dashboard
from nimbus.config import Settings
from tests.api.test_dashboard_app import boot, csrf, sign_in
from tests.support.paas import stack
from tests.support.stack import Stack

__all__ = ["stack"]

IDENTITY = "/identity/v3"


@pytest.fixture
def app(stack: Stack) -> Flask:
    dashboard = create_dashboard(stack.settings)
    dashboard.testing = True
    return dashboard


@pytest.fixture
def web(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def api(stack: Stack, path: str, method: str = "GET", **kw: Any) -> Any:
    """An answer of the API to the admin, asserted to be a success."""
    headers = {"X-Auth-Token": stack.token("admin")}
    response = stack.client.open(path, method=method, headers=headers, **kw)
    assert response.status_code < 300, (path, response.status_code, response.json)
    return response.json


def find(stack: Stack, kind: str, name: str) -> dict[str, Any]:
    (found,) = api(stack, f"{IDENTITY}/{kind}?name={name}")[kind]
    return dict(found)


def project_id(stack: Stack, name: str) -> str:
    return str(find(stack, "projects", name)["id"])


def post(web: FlaskClient, url: str, **form: str) -> Any:
    return web.post(url, data={"csrf": csrf(web), **form})


def alert(web: FlaskClient, response: Any) -> str:
    """The refusal the page a redirect leads to shows, as a reader of it sees it."""
    assert response.status_code == 302 and "error=" in response.headers["Location"]
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', page)
    assert found, page
    return found.group(1)


def can_sign_in(stack: Stack, user: str, password: str) -> bool:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"id": "default"}, "password": password}
                },
            }
        }
    }
    return stack.client.post(f"{IDENTITY}/auth/tokens", json=body).status_code == 201


def test_the_summary_counts_what_the_apis_list(web: FlaskClient, stack: Stack) -> None:
    boot(stack, "counted")
    sign_in(web, "admin")
    page = web.get("/admin").get_data(as_text=True)
    projects = len(api(stack, f"{IDENTITY}/projects")["projects"])
    users = len(api(stack, f"{IDENTITY}/users")["users"])
    assert f'<span id="count-projects">{projects}</span>' in page
    assert f'<span id="count-users">{users}</span>' in page
    assert '<span id="count-hypervisors">1</span>' in page
    [host] = api(stack, "/compute/v2.1/os-hypervisors/detail")["hypervisors"]
    assert f"1 of {host['vcpus']}" in page  # flavor 1: one vCPU of the host's
    assert 'href="/admin"' in web.get("/").get_data(as_text=True)  # the nav's admin link


def test_a_project_made_disabled_and_deleted_from_the_pages(web: FlaskClient, stack: Stack) -> None:
    sign_in(web, "admin")
    made = post(web, "/admin/projects", name="dash-proj", description="made here")
    assert made.status_code == 302 and "error=" not in made.headers["Location"]
    project = find(stack, "projects", "dash-proj")
    assert project["description"] == "made here" and project["enabled"] is True
    assert "dash-proj" in web.get("/admin/projects").get_data(as_text=True)

    twice = post(web, "/admin/projects", name="dash-proj")
    assert "Duplicate entry" in alert(web, twice)

    post(web, f"/admin/projects/{project['id']}/enabled", enabled="false")
    assert find(stack, "projects", "dash-proj")["enabled"] is False
    post(web, f"/admin/projects/{project['id']}/enabled", enabled="true")
    assert find(stack, "projects", "dash-proj")["enabled"] is True

    post(web, f"/admin/projects/{project['id']}/delete")
    assert api(stack, f"{IDENTITY}/projects?name=dash-proj")["projects"] == []


def test_a_project_that_owns_a_server_is_not_deleted_and_says_why(
    web: FlaskClient, stack: Stack
) -> None:
    boot(stack, "holds-demo")
    sign_in(web, "admin")
    demo = project_id(stack, "demo")
    refused = post(web, f"/admin/projects/{demo}/delete")
    assert "still owns resources" in alert(web, refused)
    assert find(stack, "projects", "demo")["enabled"] is True


def test_a_user_made_with_a_role_then_its_password_reset_and_it_disabled(
    web: FlaskClient, stack: Stack
) -> None:
    sign_in(web, "admin")
    demo, member = project_id(stack, "demo"), find(stack, "roles", "member")["id"]
    form = {"name": "carol", "password": "carol-1", "project_id": demo, "role_id": member}
    made = post(web, "/admin/users", **form)
    assert made.status_code == 302 and "error=" not in made.headers["Location"]
    carol = find(stack, "users", "carol")
    assert carol["default_project_id"] == demo and carol["enabled"] is True
    roles = api(stack, f"{IDENTITY}/projects/{demo}/users/{carol['id']}/roles")["roles"]
    assert [r["name"] for r in roles] == ["member"]
    assert can_sign_in(stack, "carol", "carol-1")

    post(web, f"/admin/users/{carol['id']}/password", password="carol-2")
    assert not can_sign_in(stack, "carol", "carol-1") and can_sign_in(stack, "carol", "carol-2")

    post(web, f"/admin/users/{carol['id']}/enabled", enabled="false")
    assert find(stack, "users", "carol")["enabled"] is False
    assert not can_sign_in(stack, "carol", "carol-2")
    assert "Duplicate entry" in alert(web, post(web, "/admin/users", name="carol", password="x"))

    post(web, f"/admin/users/{carol['id']}/delete")
    assert api(stack, f"{IDENTITY}/users?name=carol")["users"] == []


def test_the_admin_cannot_disable_or_delete_itself(web: FlaskClient, stack: Stack) -> None:
    sign_in(web, "admin")
    me = find(stack, "users", "admin")["id"]
    assert "signed in as" in alert(web, post(web, f"/admin/users/{me}/enabled", enabled="false"))
    assert "signed in as" in alert(web, post(web, f"/admin/users/{me}/delete"))
    assert find(stack, "users", "admin")["enabled"] is True


def test_a_role_granted_and_revoked_on_a_projects_page(web: FlaskClient, stack: Stack) -> None:
    sign_in(web, "admin")
    demo, bob = project_id(stack, "demo"), find(stack, "users", "bob")["id"]
    reader = find(stack, "roles", "reader")["id"]
    granted = post(web, f"/admin/projects/{demo}/members", user_id=bob, role_id=reader)
    assert granted.status_code == 302 and "Role+granted" in granted.headers["Location"]
    held = api(stack, f"{IDENTITY}/projects/{demo}/users/{bob}/roles")["roles"]
    assert [r["name"] for r in held] == ["reader"]
    members = web.get(f"/admin/projects/{demo}").get_data(as_text=True)
    members = members.split('id="members"', 1)[1].split("</table>", 1)[0]
    assert "<td>bob</td><td>reader</td>" in members and "<td>alice</td><td>member</td>" in members

    post(web, f"/admin/projects/{demo}/members/{bob}/roles/{reader}/revoke")
    assert api(stack, f"{IDENTITY}/projects/{demo}/users/{bob}/roles")["roles"] == []
    again = post(web, f"/admin/projects/{demo}/members/{bob}/roles/{reader}/revoke")
    assert "has no role" in alert(web, again)


def test_quotas_set_in_each_service_are_read_back_from_its_api(
    web: FlaskClient, stack: Stack
) -> None:
    sign_in(web, "admin")
    demo = project_id(stack, "demo")
    admin_project = project_id(stack, "admin")
    page = web.get(f"/admin/projects/{demo}").get_data(as_text=True)
    assert 'id="quota-compute"' in page and 'id="quota-network"' in page and "Key pairs" in page
    post(web, f"/admin/projects/{demo}/quotas/compute", cores="7", instances="10")
    post(web, f"/admin/projects/{demo}/quotas/volume", gigabytes="33")
    post(web, f"/admin/projects/{demo}/quotas/network", router="4")
    compute = api(stack, f"/compute/v2.1/os-quota-sets/{demo}")["quota_set"]
    volume = api(stack, f"/volume/v3/{admin_project}/os-quota-sets/{demo}")["quota_set"]
    network = api(stack, f"/networking/v2.0/quotas/{demo}")["quota"]
    assert (compute["cores"], compute["instances"]) == (7, 10)
    assert volume["gigabytes"] == 33 and network["router"] == 4
    unchanged = post(web, f"/admin/projects/{demo}/quotas/network", router="4", port="500")
    assert "nothing+changed" in unchanged.headers["Location"]
    assert "must be an integer" in alert(
        web, post(web, f"/admin/projects/{demo}/quotas/compute", cores="many")
    )
    assert 'name="cores" type="number" min="-1" value="7"' in web.get(
        f"/admin/projects/{demo}"
    ).get_data(as_text=True)


def test_a_quota_below_the_usage_is_refused_with_the_apis_message(
    web: FlaskClient, stack: Stack
) -> None:
    boot(stack, "in-use")
    sign_in(web, "admin")
    demo = project_id(stack, "demo")
    before = api(stack, f"/compute/v2.1/os-quota-sets/{demo}")["quota_set"]["instances"]
    refused = post(web, f"/admin/projects/{demo}/quotas/compute", instances="0")
    assert "must be greater than or equal to already used" in alert(web, refused)
    assert api(stack, f"/compute/v2.1/os-quota-sets/{demo}")["quota_set"]["instances"] == before
    page = web.get(f"/admin/projects/{demo}").get_data(as_text=True)
    assert re.search(r'<meter min="0" max="\d+" value="1"[^>]*aria-label="Instances in use"', page)


def test_roles_made_and_deleted_and_no_delete_button_for_the_built_in_ones(
    web: FlaskClient, stack: Stack
) -> None:
    sign_in(web, "admin")
    post(web, "/admin/roles", name="auditor")
    auditor = find(stack, "roles", "auditor")
    page = web.get("/admin/roles").get_data(as_text=True)
    assert f"/admin/roles/{auditor['id']}/delete" in page
    for name in ("admin", "member", "reader"):
        assert f"/admin/roles/{find(stack, 'roles', name)['id']}/delete" not in page
    assert "Duplicate entry" in alert(web, post(web, "/admin/roles", name="auditor"))
    post(web, f"/admin/roles/{auditor['id']}/delete")
    assert api(stack, f"{IDENTITY}/roles?name=auditor")["roles"] == []
    member = find(stack, "roles", "member")["id"]
    assert "cannot be deleted" in alert(web, post(web, f"/admin/roles/{member}/delete"))


def test_hypervisor_usage_shows_each_host_and_project(web: FlaskClient, stack: Stack) -> None:
    boot(stack, "on-a-host")
    sign_in(web, "admin")
    page = web.get("/admin/hypervisors").get_data(as_text=True)
    hosts = page.split('id="hypervisors"', 1)[1].split("</table>", 1)[0]
    [host] = api(stack, "/compute/v2.1/os-hypervisors/detail")["hypervisors"]
    assert f"<td>{stack.settings.host_name}</td>" in hosts and ">up</span>" in hosts
    assert f'<meter min="0" max="{host["vcpus"]}" value="1"' in hosts and "in Ceph" in hosts
    usage = page.split('id="project-usage"', 1)[1].split("</table>", 1)[0]
    assert ">demo</a>" in usage and ">other</a>" not in usage
    demo = project_id(stack, "demo")
    cores = api(stack, f"/compute/v2.1/os-quota-sets/{demo}")["quota_set"]["cores"]
    assert f'<meter min="0" max="{cores}" value="1"' in usage  # flavor 1: one vCPU


def test_novas_hypervisor_details_become_meters(settings: Settings) -> None:
    """Nova's own hypervisor fields (with a local disk, which Nimbus's hosts have not)
    become a row of meters."""
    nova = {
        "hypervisor_hostname": "cmp1",
        "state": "up",
        "status": "enabled",
        "vcpus": 8,
        "vcpus_used": 2,
        "memory_mb": 16384,
        "memory_mb_used": 4096,
        "local_gb": 100,
        "local_gb_used": 100,
        "running_vms": 2,
    }
    (row,) = admin.hypervisor_rows([nova])
    assert row["host"] == "cmp1" and row["running"] == 2
    assert (row["vcpus"]["share"], row["ram"]["share"], row["disk"]["share"]) == (25, 25, 100)
    total = admin.totals([row, row])
    assert (total["vcpus"]["used"], total["vcpus"]["limit"]) == (4, 16)
    with create_dashboard(settings).test_request_context("/admin/hypervisors"):
        g.session = None
        page = render_template("admin_hypervisors.html", rows=[row], usage=[])
    assert '<meter min="0" max="8" value="2"' in page and "4096 of 16384 MiB" in page
    assert "100 of 100 GiB" in page


def admin_routes(app: Flask, stack: Stack) -> Iterator[tuple[str, str]]:
    """Every admin route (method, url), filled in with demo's project, alice and member."""
    ids = {
        "project_id": project_id(stack, "demo"),
        "user_id": find(stack, "users", "alice")["id"],
        "role_id": find(stack, "roles", "member")["id"],
        "service": "compute",
    }
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            url = rule.build({arg: ids[arg] for arg in rule.arguments}, append_unknown=False)
            assert url is not None
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield method, url[1]


@pytest.mark.parametrize("user", ["alice", "rita"])
def test_a_member_or_a_reader_is_refused_every_admin_route_without_an_api_call(
    app: Flask, web: FlaskClient, stack: Stack, user: str
) -> None:
    sign_in(web, user)
    token = csrf(web)
    assert "/admin" not in web.get("/").get_data(as_text=True)  # no admin link in the nav
    routes = list(admin_routes(app, stack))
    assert len(routes) >= 17
    # With the API out of reach, any call would answer 503: a 403 shows none was made.
    app.config["NIMBUS_API"] = "http://127.0.0.1:9"
    for method, url in routes:
        response = web.open(url, method=method, data={"csrf": token} if method == "POST" else None)
        text = response.get_data(as_text=True)
        assert response.status_code == 403, (method, url, response.status_code)
        assert "Not allowed" in text and "administrator" in text
