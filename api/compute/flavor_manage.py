"""Admins create, describe and delete flavors (Nova's flavor-manage).

Create answers 200 with the flavor, 409 when its name or id is taken; an id that is
omitted, null or ``auto`` becomes a UUID. From 2.55 a flavor has a description, set at
create and the one thing ``PUT`` changes (flavors are otherwise immutable). Delete answers
202; servers built with the flavor keep working on their own copy of it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Response, jsonify
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from api import deps
from api.compute import bp
from api.compute.flavors import flavor_view
from api.context import current
from api.microversion import at_least
from api.policy import authorize
from api.validation import description_field, digits, json_body, name_field
from nimbus.db import MAX_INT, Flavor
from nimbus.db_compute import FlavorExtraSpec, FlavorProject, keep_server_copies
from nimbus.errors import Conflict, InvalidSpec, NotFound

MAX_FLOAT = 3.40282e38
_ID = re.compile(r"(?! )[a-zA-Z0-9. _-]+(?<! )")
_FIELDS = {
    "name",
    "id",
    "ram",
    "vcpus",
    "disk",
    "OS-FLV-EXT-DATA:ephemeral",
    "swap",
    "rxtx_factor",
    "os-flavor-access:is_public",
}
#: Nova's boolean strings (``parameter_types.boolean``).
_BOOLEANS = {
    **dict.fromkeys(("True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes"), True),
    **dict.fromkeys(("False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"), False),
}


def _only(body: dict[str, Any], key: str, allowed: set[str]) -> dict[str, Any]:
    """``body[key]``: an object with no other keys beside it and none but ``allowed``."""
    spec = body.get(key)
    if set(body) != {key} or not isinstance(spec, dict):
        raise InvalidSpec(f"Invalid input: the body must be an object with only '{key}'.")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise InvalidSpec(
            f"Invalid input for field/attribute {key}: additional properties are not"
            f" allowed ({', '.join(repr(u) for u in unknown)} were unexpected)"
        )
    return spec


def _integer(spec: dict[str, Any], key: str, least: int, default: int | None = None) -> int:
    """Nova's flavor numbers: an integer or a string of digits, ``least`` to 2**31-1."""
    value: Any = spec.get(key, default)
    ok = type(value) is int or digits(value)
    if not ok or not least <= int(value) <= MAX_INT:
        raise InvalidSpec(
            f"Invalid input for field/attribute {key}. Value: {value}. It must be an"
            f" integer from {least} to {MAX_INT}."
        )
    return int(value)


def _flavor_id(value: Any) -> str:
    if value is None or value == "auto":
        return str(uuid.uuid4())
    if type(value) in (int, float):
        return str(value)
    if not isinstance(value, str) or len(value) > 255 or not _ID.fullmatch(value):
        raise InvalidSpec(
            f"Invalid input for field/attribute id. Value: {value}. Letters, digits,"
            " '.', '_', '-' and inner spaces only, 1 to 255 of them."
        )
    return value


def _rxtx(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        value = float(value)
    if type(value) not in (int, float) or not 0 < value <= MAX_FLOAT:
        raise InvalidSpec(f"'rxtx_factor' argument must be a float between 0 and {MAX_FLOAT:g}")
    return float(value)


def _public(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _BOOLEANS:
        return _BOOLEANS[value]
    raise InvalidSpec(f"Invalid input for field/attribute os-flavor-access:is_public: {value}")


def _new_flavor(body: dict[str, Any]) -> Flavor:
    """The flavor a create body describes, checked as Nova's schema checks it."""
    spec = _only(body, "flavor", _FIELDS | ({"description"} if at_least("2.55") else set()))
    for key in ("name", "ram", "vcpus", "disk"):
        if key not in spec:
            raise InvalidSpec(f"Invalid input for field/attribute flavor: '{key}' is required.")
    return Flavor(
        id=_flavor_id(spec.get("id")),
        name=name_field(spec),
        ram=_integer(spec, "ram", 1),
        vcpus=_integer(spec, "vcpus", 1),
        disk=_integer(spec, "disk", 0),
        ephemeral=_integer(spec, "OS-FLV-EXT-DATA:ephemeral", 0, 0),
        swap=_integer(spec, "swap", 0, 0),
        rxtx_factor=_rxtx(spec.get("rxtx_factor")),
        is_public=_public(spec.get("os-flavor-access:is_public", True)),
        description=description_field(spec, max_len=65535),
    )


@bp.post("/v2.1/flavors")
def create_flavor() -> Response:
    authorize(current(), "compute:flavors:create")
    flavor = _new_flavor(json_body())
    try:
        with deps.db().session() as s:
            if s.get(Flavor, flavor.id) is not None:
                raise Conflict(f"Flavor with ID {flavor.id} already exists.")
            if s.scalars(select(Flavor.id).where(Flavor.name == flavor.name)).first():
                raise Conflict(f"Flavor with name {flavor.name} already exists.")
            s.add(flavor)
    except IntegrityError as exc:  # a concurrent create took the name or the id
        raise Conflict(f"Flavor {flavor.name} ({flavor.id}) already exists.") from exc
    return jsonify({"flavor": flavor_view(flavor, {})})


@bp.put("/v2.1/flavors/<flavor_id>")
def update_flavor(flavor_id: str) -> Response:
    """2.55: change the description, and nothing else."""
    if not at_least("2.55"):
        raise NotFound("The resource could not be found.")
    authorize(current(), "compute:flavors:update")
    spec = _only(json_body(), "flavor", {"description"})
    if "description" not in spec:
        raise InvalidSpec("Invalid input for field/attribute flavor: 'description' is required.")
    description = description_field(spec, max_len=65535)
    with deps.db().session() as s:
        flavor = s.get(Flavor, flavor_id)
        if flavor is None:
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        flavor.description = description
    return jsonify({"flavor": flavor_view(flavor, None)})


@bp.delete("/v2.1/flavors/<flavor_id>")
def delete_flavor(flavor_id: str) -> tuple[str, int]:
    """Gone for new servers; each live server naming it keeps its own copy first."""
    authorize(current(), "compute:flavors:delete")
    with deps.db().session() as s:
        flavor = s.get(Flavor, flavor_id)
        if flavor is None:
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        keep_server_copies(s, flavor)
        s.execute(delete(FlavorExtraSpec).where(FlavorExtraSpec.flavor_id == flavor_id))
        s.execute(delete(FlavorProject).where(FlavorProject.flavor_id == flavor_id))
        s.delete(flavor)
    return "", 202
