"""Volume actions, ``POST /volumes/{id}/action``: ``os-extend``, which starts a workflow; a
volume in another status is 409 and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api import deps
from api.context import RequestContext, current
from api.policy import authorize
from api.validation import json_body, require_dict
from api.volume import bp
from api.volume.volumes import load_volume, size_field, transition
from nimbus.errors import Conflict, InvalidSpec
from workflows import starter

Action = Callable[[RequestContext, str, Any], None]


@bp.post("/v3/<project_id>/volumes/<volume_id>/action")
def volume_action(project_id: str, volume_id: str) -> tuple[str, int]:
    ctx = current()
    body = json_body()
    actions: dict[str, Action] = {"os-extend": _extend}
    if len(body) != 1 or next(iter(body)) not in actions:
        raise InvalidSpec(
            f"Unsupported volume action: {', '.join(body)}. Supported: {', '.join(actions)}."
        )
    name = next(iter(body))
    actions[name](ctx, volume_id, body)
    return "", 202


def _extend(ctx: RequestContext, volume_id: str, body: dict[str, Any]) -> None:
    authorize(ctx, "volume:extend")
    volume = load_volume(volume_id, ctx)
    new_size = size_field(require_dict(body, "os-extend", "os-extend").get("new_size"), "new_size")
    if new_size <= volume.size:
        raise InvalidSpec(f"New size {new_size} must be greater than the current {volume.size}.")
    if not transition(volume_id, ("available",), "extending"):
        raise Conflict(
            f"Volume {volume_id} is {volume.status}: only an available volume can be extended."
        )
    try:
        deps.bridge().run(
            lambda c: starter.extend_volume(c, volume.project_id, volume_id, new_size)
        )
    except Exception:
        transition(volume_id, ("extending",), "available")
        raise
