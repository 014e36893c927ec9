"""The OpenAPI 3.0 description of Nimbus's own API, served to anyone at ``/openapi.json``.

It is generated from the app's routes, so it cannot miss one: an operation for every rule
and method (HEAD and OPTIONS aside), its path parameters from the rule's converters, its
query parameters from the view's code (``api.openapi_query``), a tag per service, a
summary from the view's docstring, and the ``X-Auth-Token`` header required everywhere but
on the routes marked ``public``. A write takes a JSON object unless its view declares
another body with ``request_body``. Response shapes are OpenStack's (its api-ref).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from werkzeug.routing import Rule

from api import deps
from api.context import View, is_public, public
from api.openapi_query import query_names

bp = Blueprint("openapi", __name__)

#: A rule's ``<converter:name>`` (or ``<name>``) variables.
_VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
#: Werkzeug's converters as OpenAPI schemas (``string`` and ``any`` are plain strings).
_CONVERTERS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
}
_WRITES = ("POST", "PUT", "PATCH")
#: The body of a write that declares none.
JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
#: Binary data (image and package uploads).
OCTET_STREAM = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
#: Microversion headers, by service: the header, and what precedes the version in it.
_MICROVERSIONS = {
    "compute": [("OpenStack-API-Version", "compute "), ("X-OpenStack-Nova-API-Version", "")],
    "volume": [("OpenStack-API-Version", "volume ")],
}
_BODY = "nimbus_request_body"


def request_body(content: dict[str, Any]) -> Callable[[View], View]:
    """Declare the body a view takes (media type -> ``{"schema": ...}``) when it is not
    a JSON object, or when its schema is known."""

    def mark(view: View) -> View:
        setattr(view, _BODY, content)
        return view

    return mark


def from_json_schema(schema: Any) -> Any:
    """A JSON schema in OpenAPI 3.0's dialect, which takes one type and ``nullable``
    rather than a list of types (``["null", "string"]``)."""
    if isinstance(schema, list):
        return [from_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: from_json_schema(v) for k, v in schema.items()}
    kinds = out.get("type")
    if isinstance(kinds, list):
        rest = [k for k in kinds if k != "null"]
        out["type"] = rest[0] if len(rest) == 1 else "string"
        if "null" in kinds:
            out["nullable"] = True
    return out


@bp.get("/openapi.json")
@public
def openapi_document() -> Response:
    """This API's OpenAPI 3.0 description, for client generators, fuzzers and people."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    doc = app.extensions.setdefault("nimbus_openapi", {})
    if not doc:
        doc.update(document(app))
    return jsonify({**doc, "servers": [{"url": deps.settings().public_url}]})


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route of ``app``."""
    paths: dict[str, dict[str, Any]] = {}
    for rule, method, operation_id in operations(app):
        view = app.view_functions[rule.endpoint]
        paths.setdefault(openapi_path(rule), {})[method.lower()] = _operation(
            rule, method, operation_id, view
        )
    return {
        "openapi": "3.0.3",
        "info": _info(),
        "tags": _tags(app),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
            },
        },
        "security": [{"token": []}],
    }


def operations(app: Flask) -> Iterator[tuple[Rule, str, str]]:
    """Every (rule, method, operationId) of ``app``, in path order. The id is the endpoint,
    with the method when the endpoint takes several, and a number for its later rules."""
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    seen: dict[str, int] = {}
    for rule in rules:
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        seen[rule.endpoint] = seen.get(rule.endpoint, 0) + 1
        suffix = f"_{seen[rule.endpoint]}" if seen[rule.endpoint] > 1 else ""
        for method in methods:
            verb = f"_{method.lower()}" if len(methods) > 1 else ""
            yield rule, method, f"{rule.endpoint}{verb}{suffix}"


def openapi_path(rule: Rule) -> str:
    """``/servers/<server_id>`` as OpenAPI writes it: ``/servers/{server_id}``."""
    return _VARIABLE.sub(lambda m: "{" + m.group("name") + "}", rule.rule)


def _operation(rule: Rule, method: str, operation_id: str, view: Any) -> dict[str, Any]:
    service = _service(rule.endpoint)
    doc = inspect.getdoc(view) or ""
    op: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [service],
        "summary": summary(doc, view.__name__),
    }
    if doc:
        op["description"] = doc
    params = _path_params(rule) + _query_params(view)
    if not is_public(view):
        params += _version_headers(service)
    if params:
        op["parameters"] = params
    if method in _WRITES:
        op["requestBody"] = {"required": False, "content": getattr(view, _BODY, JSON_OBJECT)}
    op["responses"] = {"default": {"description": "The service's answer, in OpenStack's shape."}}
    if is_public(view):
        op["security"] = []
    else:
        op["responses"]["401"] = {"description": "No token, or one no longer valid."}
    return op


def summary(doc: str, name: str) -> str:
    """The docstring's first sentence, or the view's name in words."""
    first = " ".join(doc.split("\n\n")[0].split())
    if not first:
        return name.strip("_").replace("_", " ").capitalize()
    sentence = re.split(r"(?<=[.!?:;])\s", first, maxsplit=1)[0]
    return sentence.rstrip(":;")


def _service(endpoint: str) -> str:
    """The tag of an endpoint: its blueprint (service), or its own name outside one."""
    return endpoint.split(".")[0] if "." in endpoint else endpoint.strip("_")


def _path_params(rule: Rule) -> list[dict[str, Any]]:
    return [
        {
            "name": m.group("name"),
            "in": "path",
            "required": True,
            "schema": _CONVERTERS.get(m.group("converter") or "", {"type": "string"}),
        }
        for m in _VARIABLE.finditer(rule.rule)
    ]


def _query_params(view: Any) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in query_names(view)
    ]


def _version_headers(service: str) -> list[dict[str, Any]]:
    """The microversion headers a service reads, as optional header parameters."""
    from api import compute, volume  # imported late: their views import this module

    newest = {"compute": compute.MAX_VERSION, "volume": volume.VERSION}.get(service, "")
    return [
        {
            "name": header,
            "in": "header",
            "required": False,
            "description": "The microversion to answer at (`latest` for the newest).",
            "schema": {"type": "string", "pattern": rf"^{prefix}(latest|[0-9]+\.[0-9]+)$"},
            "example": prefix + newest,
        }
        for header, prefix in _MICROVERSIONS.get(service, [])
    ]


def _tags(app: Flask) -> list[dict[str, str]]:
    """A tag per service, described by the first paragraph of its package's docstring."""
    tags = []
    for name in sorted({_service(r.endpoint) for r in app.url_map.iter_rules()}):
        blueprint = app.blueprints.get(name)
        module = sys.modules.get(blueprint.import_name) if blueprint is not None else None
        described = " ".join(((module and module.__doc__) or "").split("\n\n")[0].split())
        tags.append({"name": name, "description": described} if described else {"name": name})
    return tags


def _info() -> dict[str, Any]:
    try:
        version = metadata.version("nimbus")
    except metadata.PackageNotFoundError:
        version = "0"
    return {
        "title": "Nimbus",
        "version": version,
        "description": (
            "A private cloud with OpenStack's APIs (identity, compute, image, block storage,"
            " networking) and its own (apps, operations, audit). Every route but the public"
            " ones takes a Keystone token in `X-Auth-Token`, had from"
            " `POST /identity/v3/auth/tokens`."
        ),
    }
