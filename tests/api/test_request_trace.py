"""One request id follows a request from the API's log line into its workflow and every
activity it ran: ``nimbus trace`` finds them all from the ``x-openstack-request-id`` of the
API's answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from nimbus.config import Settings
from observability.logs import JsonFormatter, log_file
from observability.trace import collect, render
from tests.support.stack import Stack
from workflows.common import server_workflow_id


@pytest.fixture
def json_logs(settings: Settings) -> Iterator[None]:
    """The API's access lines to ``api.jsonl`` and every other line to ``worker.jsonl``, as
    the two processes of a running cloud write them (here they share one process)."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    api = logging.FileHandler(log_file(settings.log_dir, "api"))
    api.addFilter(logging.Filter("nimbus.api.access"))
    api.setFormatter(JsonFormatter("api"))
    worker = logging.FileHandler(log_file(settings.log_dir, "worker"))
    worker.addFilter(lambda record: not record.name.startswith("nimbus.api.access"))
    worker.setFormatter(JsonFormatter("worker"))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(api)
    root.addHandler(worker)
    try:
        yield
    finally:
        root.removeHandler(api)
        root.removeHandler(worker)
        root.setLevel(level)


def test_a_boots_request_id_finds_its_api_line_workflow_and_activities(
    stack: Stack, json_logs: None
) -> None:
    body = {"server": {"name": "traced", "flavorRef": "1", "imageRef": stack.image_id()}}
    body["server"]["networks"] = "none"
    headers = {"X-Auth-Token": stack.token("alice"), "OpenStack-API-Version": "compute 2.37"}
    response = stack.client.post("/compute/v2.1/servers", json=body, headers=headers)
    assert response.status_code == 202, response.json
    request_id = response.headers["x-openstack-request-id"]
    boot = server_workflow_id(response.json["server"]["id"], "boot")
    stack.finish(boot)
    other = stack.client.get("/compute/v2.1/servers", headers=headers)
    assert other.headers["x-openstack-request-id"] != request_id

    found = collect(stack.settings, request_id)
    (api_line,) = found.api
    assert api_line["method"] == "POST" and api_line["status"] == 202
    assert [w["workflow_id"] for w in api_line["workflows"]] == [boot]
    assert api_line["workflows"][0]["run_id"]
    (workflow,) = found.workflows
    assert (workflow["type"], workflow["status"]) == ("BootServer", "COMPLETED")
    assert {line["workflow_id"] for line in found.activities} == {boot}
    outcomes = [line["outcome"] for line in found.activities if "outcome" in line]
    assert len(outcomes) >= 3 and set(outcomes) == {"completed"}
    # What an activity logs on its way carries the request id too: the placement.
    assert any("chose testhost" in line["msg"] for line in found.activities)
    text = render(found)
    assert request_id in text and boot in text and "BootServer" in text
    lines = (stack.settings.log_dir / "worker.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines)


def test_an_unknown_request_id_is_not_found(stack: Stack, json_logs: None) -> None:
    from nimbus.errors import NotFound

    with pytest.raises(NotFound, match="no API log line has request id req-nope"):
        collect(stack.settings, "req-nope")
