"""The dashboard's operations pages over the fake drivers: the project's operations across
resources, filtered and paged, polling while one runs; one operation's steps with their
durations, retries and (for admins) errors, and its history in the Temporal web UI."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from nimbus.errors import BackendUnavailable, InvalidSpec
from tests.api.test_dashboard_app import boot, sign_in, web
from tests.support.paas import stack
from tests.support.stack import Stack
from workflows.common import server_workflow_id

__all__ = ["stack", "web"]


def start_volume(stack: Stack, user: str = "alice") -> str:
    """Ask for a volume through the API; its workflow id."""
    headers = {"X-Auth-Token": stack.token(user)}
    project = stack.token_info(headers["X-Auth-Token"])["project"]["id"]
    made = stack.client.post(
        f"/volume/v3/{project}/volumes", json={"volume": {"size": 1}}, headers=headers
    )
    assert made.status_code == 202, made.json
    return f"volume-{made.json['volume']['id']}-create"


def volume(stack: Stack, user: str = "alice") -> str:
    workflow_id = start_volume(stack, user)
    stack.finish(workflow_id)
    return workflow_id


def rows(page: str) -> str:
    return page.split('id="operation-rows"', 1)[1].split("</tbody>", 1)[0]


def test_the_page_lists_operations_across_resources_with_links(
    web: FlaskClient, stack: Stack
) -> None:
    server_id = boot(stack, "mine")
    volume_id = volume(stack).removeprefix("volume-").removesuffix("-create")
    sign_in(web, "alice")
    page = web.get("/operations")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    table = rows(text)
    assert table.index("CreateVolume") < table.index("BootServer")  # newest first
    assert f'href="/servers/{server_id}">{server_id}</a>' in table
    assert f'href="/volumes">{volume_id}</a>' in table
    assert table.count('status-completed">completed') == 2
    assert len(re.findall(r'<td class="num">[0-9.]+ s</td>', table)) == 2
    assert 'hx-get="/operations/rows' not in text  # nothing runs: no polling


def test_filters_and_paging(web: FlaskClient, stack: Stack) -> None:
    boot(stack, "mine")
    volume(stack)
    sign_in(web, "alice")
    volumes = rows(web.get("/operations?resource_type=volume").get_data(as_text=True))
    assert "CreateVolume" in volumes and "BootServer" not in volumes
    failed = rows(web.get("/operations?status=failed").get_data(as_text=True))
    assert "No operations." in failed
    first = web.get("/operations?limit=1").get_data(as_text=True)
    assert "CreateVolume" in rows(first) and "BootServer" not in rows(first)
    older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', first)
    assert older, first
    second = web.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "BootServer" in rows(second) and "CreateVolume" not in rows(second)
    assert ">Newest</a>" in second


def test_a_filter_the_api_refuses_is_shown_with_the_form(web: FlaskClient) -> None:
    sign_in(web, "alice")
    refused = web.get("/operations?status=exploded")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and 'role="alert"' in text and "must be one of" in text
    assert '<form class="inline filters"' in text


def test_the_rows_poll_while_an_operation_runs(web: FlaskClient, stack: Stack) -> None:
    stack.store.fail("create", BackendUnavailable("busy"), times=3)  # ~3.5 s of retries
    workflow_id = start_volume(stack)
    sign_in(web, "alice")
    page = web.get("/operations").get_data(as_text=True)
    assert 'hx-get="/operations/rows' in page and 'status-running">running' in page
    polled = web.get("/operations/rows").get_data(as_text=True)
    assert polled.startswith('<tbody id="operation-rows"')
    stack.finish(workflow_id)
    assert 'hx-get="/operations/rows' not in web.get("/operations").get_data(as_text=True)


def test_an_operations_page_shows_its_steps_and_its_temporal_history(
    web: FlaskClient, stack: Stack
) -> None:
    server_id = boot(stack, "mine")
    sign_in(web, "rita")  # a reader looks as a member does
    workflow_id = server_workflow_id(server_id, "boot")
    page = web.get(f"/operations/{workflow_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>BootServer</h1>" in text
    steps = re.findall(
        r'<span class="step">([^<]+)</span>.*?<td class="num">([0-9.]+) s</td>', text, re.S
    )
    assert [name for name, _ in steps][:2] == ["place_bind_and_plan", "create_root_disk"], text
    assert "mark_active" in [name for name, _ in steps]
    link = re.search(
        r'<a href="([^"]+)" target="_blank" rel="noopener" id="temporal-history">', text
    )
    assert link, text
    ui = web.application.config["TEMPORAL_UI"]
    expected = re.escape(f"{ui}/workflows/{workflow_id}/") + r"[0-9a-f-]{36}/history"
    assert re.fullmatch(expected, link.group(1)), link.group(1)
    assert "<th>Error</th>" not in text and 'id="operation-failure"' not in text


def test_retries_are_highlighted_and_errors_shown_to_admins_only(
    web: FlaskClient, stack: Stack
) -> None:
    stack.store.fail("create", BackendUnavailable("busy"))
    retried = volume(stack, "admin")
    stack.store.fail("create", InvalidSpec("no room in the pool"))
    failed = volume(stack, "admin")
    sign_in(web, "admin")
    page = web.get(f"/operations/{retried}").get_data(as_text=True)
    assert re.search(r'<span class="retried" title="retried 1 time\(s\)">2</span>', page)
    page = web.get(f"/operations/{failed}").get_data(as_text=True)
    assert 'id="operation-failure">volume create failed: no room in the pool' in page
    assert '<td class="step-error">no room in the pool</td>' in page

    stack.store.fail("create", InvalidSpec("no room in the pool"))
    mine = volume(stack, "alice")
    web.post("/logout", data={"csrf": re.findall(r'name="csrf" value="([^"]+)"', page)[0]})
    sign_in(web, "alice")
    page = web.get(f"/operations/{mine}").get_data(as_text=True)
    assert "no room in the pool" in page.split('id="operation-failure">', 1)[1].split("</p>")[0]
    assert "step-error" not in page and "<th>Error</th>" not in page


def test_another_projects_operation_is_not_found(web: FlaskClient, stack: Stack) -> None:
    workflow_id = volume(stack, "bob")
    sign_in(web, "alice")
    assert web.get(f"/operations/{workflow_id}").status_code == 404
    assert workflow_id not in web.get("/operations").get_data(as_text=True)
