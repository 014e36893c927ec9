"""The OpenAPI document: valid, one operation for every route and method of the app, the
token required everywhere but on the public routes, served to anyone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from openapi_spec_validator import validate

from api.context import public, public_endpoints
from api.openapi import (
    document,
    from_json_schema,
    openapi_path,
    operations,
    request_body,
    summary,
)
from api.validation import int_query
from tests.support.identity import IdentityApp, identity_app


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityApp]:
    yield from identity_app(tmp_path_factory.mktemp("openapi"))


@pytest.fixture(scope="module")
def doc(api: IdentityApp) -> dict[str, Any]:
    return document(api.app)


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p, m.upper()): op for p, ops in doc["paths"].items() for m, op in ops.items()}


def test_the_document_is_valid_openapi(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["openapi"].startswith("3.0")


def test_every_rule_and_method_is_an_operation(api: IdentityApp, doc: dict[str, Any]) -> None:
    routes = {
        (openapi_path(rule), method)
        for rule in api.app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert set(_operations(doc)) == routes
    ids = [op["operationId"] for op in _operations(doc).values()]
    assert len(ids) == len(set(ids)) == len(routes) > 250


def test_only_public_routes_go_without_a_token(api: IdentityApp, doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["token"]["name"] == "X-Auth-Token"
    assert doc["security"] == [{"token": []}]
    ops = _operations(doc)
    open_endpoints = {
        rule.endpoint
        for rule, method, _ in operations(api.app)
        if ops[(openapi_path(rule), method)].get("security") == []
    }
    assert open_endpoints == public_endpoints(api.app)
    assert {"identity.issue_token", "openapi.openapi_document", "_metrics"} <= open_endpoints
    assert "identity.validate_token" not in open_endpoints


def test_the_document_is_served_without_a_token(api: IdentityApp) -> None:
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json["servers"] == [{"url": api.settings.public_url}]
    assert "/compute/v2.1/servers/{server_id}" in response.json["paths"]


def test_operations_carry_their_parameters_and_bodies(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    show = ops[("/compute/v2.1/servers/{server_id}", "GET")]
    names = {(p["in"], p["name"]) for p in show["parameters"]}
    assert ("path", "server_id") in names and ("header", "OpenStack-API-Version") in names
    listed = ops[("/volume/v3/{project_id}/volumes", "GET")]
    assert {"limit", "marker", "all_tenants"} <= {p["name"] for p in listed["parameters"]}
    upload = ops[("/image/v2/images/{image_id}/file", "PUT")]["requestBody"]["content"]
    assert list(upload) == ["application/octet-stream"]
    create = ops[("/image/v2/images", "POST")]["requestBody"]["content"]["application/json"]
    assert create["schema"]["properties"]["name"] == {
        "type": "string",
        "maxLength": 255,
        "nullable": True,
    }
    assert "status" not in create["schema"]["properties"]  # the service sets it


def _tiny_app() -> Flask:
    app = Flask("tiny", static_folder=None)

    @app.get("/items/<int:number>/<path:rest>")
    def show_item(number: int, rest: str) -> str:
        """Shows one item. More words."""
        return request.args.get("fields", "") + str(int_query("limit", 1, 0, 9))

    @app.put("/items/<name>")
    @request_body({"text/plain": {"schema": {"type": "string"}}})
    @public
    def put_item(name: str) -> str:
        return name

    return app


def test_converters_docstrings_and_query_reads_become_the_operation() -> None:
    doc = document(_tiny_app())
    validate(doc)
    show = doc["paths"]["/items/{number}/{rest}"]["get"]
    assert show["summary"] == "Shows one item."
    types = {p["name"]: p["schema"]["type"] for p in show["parameters"]}
    assert types == {"number": "integer", "rest": "string", "fields": "string", "limit": "string"}
    put = doc["paths"]["/items/{name}"]["put"]
    assert put["summary"] == "Put item" and put["security"] == []
    assert list(put["requestBody"]["content"]) == ["text/plain"]


def test_summaries_and_json_schema_types() -> None:
    assert summary("Why this is.\nMore: on the next line.", "x") == "Why this is."
    assert summary("", "list_servers_detail") == "List servers detail"
    assert from_json_schema({"type": ["null", "integer"]}) == {"type": "integer", "nullable": True}
