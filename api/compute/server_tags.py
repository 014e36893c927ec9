"""A server's tags, Nova's ``/servers/{id}/tags`` (microversion 2.26: ``openstack server
set --tag``, ``unset --tag``, ``server list --tags``).

A tag is 1 to 60 characters without ``/`` or ``,``; a server holds at most 50. Tags change
only while the server rests (ACTIVE, PAUSED, SHUTOFF, SUSPENDED with no task), else 409,
as Nova's ``_check_instance_in_valid_state``. Below 2.26 the routes do not exist (404).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify

from api import deps
from api.compute import bp
from api.compute.servers import load_server
from api.context import current
from api.microversion import at_least
from api.policy import authorize
from api.validation import json_body
from nimbus.db import Server
from nimbus.errors import Conflict, InvalidSpec, NotFound

PATH = "/v2.1/servers/<server_id>/tags"
MAX_TAGS = 50
MAX_LENGTH = 60
_RESTING = {"ACTIVE", "PAUSED", "SHUTOFF", "SUSPENDED"}


def _require_version() -> None:
    if not at_least("2.26"):
        raise NotFound("The resource could not be found.")


def check_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_LENGTH:
        raise InvalidSpec(f"Tag must be a string of 1 to {MAX_LENGTH} characters.")
    if "/" in tag or "," in tag:
        raise InvalidSpec(f"Tag '{tag}' is invalid: it must not contain '/' or ','.")
    return tag


def check_tags(value: Any) -> list[str]:
    """A list of valid tags, duplicates dropped, at most ``MAX_TAGS``."""
    if not isinstance(value, list):
        raise InvalidSpec("'tags' must be a list of strings.")
    tags = list(dict.fromkeys(check_tag(tag) for tag in value))
    _check_count(len(tags))
    return tags


def _check_count(count: int) -> None:
    if count > MAX_TAGS:
        raise InvalidSpec(f"The number of tags exceeded the per-server limit {MAX_TAGS}")


def tags_of(server: Server) -> list[str]:
    return list(server.tags or [])


def _read(server_id: str) -> list[str]:
    _require_version()
    ctx = current()
    authorize(ctx, "compute:servers:show")
    return tags_of(load_server(server_id, ctx))


def _write(server_id: str, change: Callable[[list[str]], list[str]]) -> list[str]:
    """Apply ``change(current tags) -> new`` to the caller's resting server."""
    _require_version()
    ctx = current()
    authorize(ctx, "compute:servers:update")
    server = load_server(server_id, ctx)
    with deps.db().session() as s:
        row = s.get(Server, server.id)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"Instance {server_id} could not be found.")
        if row.status not in _RESTING or row.task_state is not None:
            state = row.task_state or row.status
            raise Conflict(f"Cannot 'update tags' instance {server_id} while it is {state}")
        new = change(tags_of(row))
        _check_count(len(new))
        row.tags = new
        return list(new)


@bp.get(PATH)
def list_server_tags(server_id: str) -> Response:
    return jsonify({"tags": _read(server_id)})


@bp.put(PATH)
def replace_server_tags(server_id: str) -> Response:
    """Replace all of them."""
    tags = check_tags(_tags_field(json_body()))
    return jsonify({"tags": _write(server_id, lambda _old: tags)})


def _tags_field(body: Any) -> Any:
    if not isinstance(body, dict) or set(body) != {"tags"}:
        raise InvalidSpec('The request body must be {"tags": [...]}.')
    return body["tags"]


@bp.delete(PATH)
def delete_server_tags(server_id: str) -> tuple[str, int]:
    _write(server_id, lambda _old: [])
    return "", 204


@bp.get(f"{PATH}/<tag>")
def check_server_tag(server_id: str, tag: str) -> tuple[str, int]:
    if tag not in _read(server_id):
        raise NotFound(f"Tag '{tag}' could not be found.")
    return "", 204


@bp.put(f"{PATH}/<tag>")
def add_server_tag(server_id: str, tag: str) -> tuple[str, int, dict[str, str]] | tuple[str, int]:
    """201 with a Location for a new tag, 204 for one the server already has."""
    check_tag(tag)
    added: list[bool] = []

    def add(old: list[str]) -> list[str]:
        added.append(tag not in old)
        return old if tag in old else [*old, tag]

    _write(server_id, add)
    if added[0]:
        location = f"{deps.settings().public_url}/compute/v2.1/servers/{server_id}/tags/{tag}"
        return "", 201, {"Location": location}
    return "", 204


@bp.delete(f"{PATH}/<tag>")
def delete_server_tag(server_id: str, tag: str) -> tuple[str, int]:
    def without(old: list[str]) -> list[str]:
        if tag not in old:
            raise NotFound(f"Tag '{tag}' could not be found.")
        return [t for t in old if t != tag]

    _write(server_id, without)
    return "", 204
