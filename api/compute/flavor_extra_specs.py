"""A flavor's extra specs (``/flavors/{id}/os-extra_specs``): anyone who sees the flavor
reads them, admins write them. As in Nova, create and update answer 200 with the body as
sent and delete answers 200; a number given as a value is kept as its text."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify
from sqlalchemy.exc import IntegrityError

from api import deps
from api.compute import bp
from api.compute.flavors import get_flavor
from api.context import current
from api.policy import authorize
from api.validation import json_body
from nimbus.db_compute import FlavorExtraSpec, extra_specs_of
from nimbus.errors import InvalidSpec, NotFound

_KEY = re.compile(r"[a-zA-Z0-9-_:. ]{1,255}")


def _specs(specs: Any) -> dict[str, str]:
    """Nova's extra specs schema: keys of letters, digits and ``-_:. ``; values strings or
    numbers of at most 255 characters."""
    if not isinstance(specs, dict):
        raise InvalidSpec("Invalid input for field/attribute extra_specs: not an object.")
    checked = {}
    for key, value in specs.items():
        if not _KEY.fullmatch(key):
            raise InvalidSpec(f"Invalid input for field/attribute extra_specs. Key: {key!r}.")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidSpec(f"Invalid input for field/attribute {key}: not a string.")
        if len(str(value)) > 255:
            raise InvalidSpec(f"extra_specs value of {key} is too long: at most 255 characters.")
        checked[key] = str(value)
    return checked


def _write(flavor_id: str, specs: dict[str, str]) -> None:
    try:
        with deps.db().session() as s:
            for key, value in specs.items():
                s.merge(FlavorExtraSpec(flavor_id=flavor_id, key=key, value=value))
    except IntegrityError as exc:  # the flavor was deleted meanwhile
        raise NotFound(f"Flavor {flavor_id} could not be found.") from exc


def _missing(flavor_id: str, key: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")


@bp.get("/v2.1/flavors/<flavor_id>/os-extra_specs")
def list_flavor_extra_specs(flavor_id: str) -> Response:
    authorize(current(), "compute:flavor_extra_specs:list")
    get_flavor(flavor_id)
    with deps.db().session() as s:
        return jsonify({"extra_specs": extra_specs_of(s, flavor_id)})


@bp.post("/v2.1/flavors/<flavor_id>/os-extra_specs")
def create_flavor_extra_specs(flavor_id: str) -> Response:
    """Add or change the keys given; the others stay."""
    authorize(current(), "compute:flavor_extra_specs:write")
    body = json_body()
    if set(body) != {"extra_specs"}:
        raise InvalidSpec("Invalid input: the body must be an object with only 'extra_specs'.")
    specs = _specs(body["extra_specs"])
    _write(get_flavor(flavor_id).id, specs)
    return jsonify(body)


@bp.get("/v2.1/flavors/<flavor_id>/os-extra_specs/<spec_key>")
def show_flavor_extra_spec(flavor_id: str, spec_key: str) -> Response:
    authorize(current(), "compute:flavor_extra_specs:list")
    get_flavor(flavor_id)
    with deps.db().session() as s:
        row = s.get(FlavorExtraSpec, (flavor_id, spec_key))
        if row is None:
            raise _missing(flavor_id, spec_key)
        return jsonify({spec_key: row.value})


@bp.put("/v2.1/flavors/<flavor_id>/os-extra_specs/<spec_key>")
def update_flavor_extra_spec(flavor_id: str, spec_key: str) -> Response:
    """Set one key: the body names exactly that key."""
    authorize(current(), "compute:flavor_extra_specs:write")
    body = json_body()
    if len(body) != 1:
        raise InvalidSpec("Invalid input: the body must name exactly one extra spec.")
    specs = _specs(body)
    if spec_key not in specs:
        raise InvalidSpec("Request body and URI mismatch")
    _write(get_flavor(flavor_id).id, specs)
    return jsonify(body)


@bp.delete("/v2.1/flavors/<flavor_id>/os-extra_specs/<spec_key>")
def delete_flavor_extra_spec(flavor_id: str, spec_key: str) -> tuple[str, int]:
    authorize(current(), "compute:flavor_extra_specs:write")
    get_flavor(flavor_id)
    with deps.db().session() as s:
        row = s.get(FlavorExtraSpec, (flavor_id, spec_key))
        if row is None:
            raise _missing(flavor_id, spec_key)
        s.delete(row)
    return "", 200
