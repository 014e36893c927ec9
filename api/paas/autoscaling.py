"""An app's autoscaling policy: its supervisor keeps from ``min_instances`` to
``max_instances``, as many as its request rate (measured by the router) needs at
``requests_per_second`` each, changing the count at most once per ``cooldown`` seconds.
Every decision is an app event with its reason."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from api import deps
from api.context import current
from api.paas import UPDATE_SECONDS, bp
from api.paas.apps import load_app, render
from api.policy import authorize
from api.validation import json_body, require_dict
from nimbus.db_paas import App
from nimbus.errors import Conflict, InvalidSpec
from workflows import paas_starter
from workflows.app_supervisor import MAX_INSTANCES, AutoscaleInput, AutoscalePolicy


def _number(body: dict[str, Any], key: str, low: float, high: float, whole: bool) -> Any:
    value = body.get(key)
    kinds = (int,) if whole else (int, float)
    if not isinstance(value, kinds) or isinstance(value, bool) or not low <= value <= high:
        kind = "an integer" if whole else "a number"
        raise InvalidSpec(f"'{key}' must be {kind} from {low:g} to {high:g}.")
    return value


def policy_from(body: dict[str, Any]) -> AutoscalePolicy:
    low = _number(body, "min_instances", 1, MAX_INSTANCES, True)
    high = _number(body, "max_instances", 1, MAX_INSTANCES, True)
    if high < low:
        raise InvalidSpec("'max_instances' must not be below 'min_instances'.")
    rate = _number(body, "requests_per_second", 0.001, 1e6, False)
    cooldown = _number({"cooldown": body.get("cooldown", 60)}, "cooldown", 0, 86400, False)
    unknown = set(body) - {"min_instances", "max_instances", "requests_per_second", "cooldown"}
    if unknown:
        raise InvalidSpec(f"Unknown autoscaling field(s): {', '.join(sorted(unknown))}.")
    return AutoscalePolicy(low, high, float(rate), float(cooldown))


def _tell(app: App, policy: AutoscalePolicy | None) -> None:
    from api.paas.builds import check_quota, supervisor_input

    if app.release_id is None:
        raise Conflict(f"App {app.name} has no release yet: push it first.")
    if policy is not None:
        check_quota(app, policy.min_instances, app.memory_mib)
    deps.bridge().run(
        lambda c: paas_starter.update(
            c, supervisor_input(app), "autoscale", AutoscaleInput(policy)
        ),
        UPDATE_SECONDS,
    )
    with deps.db().session() as s:
        row = s.get(App, app.id)
        assert row is not None
        row.autoscaling = (
            None
            if policy is None
            else {
                "min_instances": policy.min_instances,
                "max_instances": policy.max_instances,
                "requests_per_second": policy.requests_per_second,
                "cooldown": policy.cooldown,
            }
        )


@bp.put("/v1/apps/<app_id>/autoscaling")
def set_autoscaling(app_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:scale")
    app = load_app(app_id, ctx)
    policy = policy_from(require_dict(json_body(), "autoscaling", "autoscaling"))
    _tell(app, policy)
    return jsonify({"app": render(app.id)})


@bp.delete("/v1/apps/<app_id>/autoscaling")
def remove_autoscaling(app_id: str) -> Response:
    """Autoscaling off: the app keeps the instance count it has."""
    ctx = current()
    authorize(ctx, "paas:apps:scale")
    app = load_app(app_id, ctx)
    _tell(app, None)
    return jsonify({"app": render(app.id)})
