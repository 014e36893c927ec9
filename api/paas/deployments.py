"""Deployments (how a release replaces the instances that run: rolling, canary or
recreate), their pause and cancel, and rollback to an earlier revision.

A deployment runs in the app's supervisor workflow, not in the request: it goes on when
the client that started it is gone, and ``GET .../deployments`` shows where it is and why
it ended. A revision is a release's version; a rollback is a new release of an old one's
build and settings (no staging), deployed like any other.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from api import deps
from api.context import current
from api.paas import UPDATE_SECONDS, bp, views
from api.paas.apps import load_app, render
from api.policy import authorize
from api.validation import json_body
from nimbus.db_paas import App, Build, Deployment, Release
from nimbus.errors import Conflict, InvalidSpec, NotFound
from workflows import paas_starter
from workflows.app_supervisor import ACTIVE, MAX_INSTANCES, STRATEGIES


def strategy_args(body: dict[str, Any]) -> paas_starter.Strategy:
    """``strategy`` (rolling unless told), ``max_in_flight`` and ``instance_steps``."""
    strategy = body.get("strategy", "rolling")
    if strategy not in STRATEGIES:
        raise InvalidSpec(f"'strategy' must be one of {', '.join(STRATEGIES)}.")
    in_flight = body.get("max_in_flight", 1)
    if (
        not isinstance(in_flight, int)
        or isinstance(in_flight, bool)
        or not 1 <= in_flight <= MAX_INSTANCES
    ):
        raise InvalidSpec(f"'max_in_flight' must be an integer from 1 to {MAX_INSTANCES}.")
    steps = body.get("instance_steps", [])
    if not isinstance(steps, list) or any(
        not isinstance(p, int) or isinstance(p, bool) or not 1 <= p <= 100 for p in steps
    ):
        raise InvalidSpec("'instance_steps' must be a list of percentages from 1 to 100.")
    if steps != sorted(set(steps)):
        raise InvalidSpec("'instance_steps' must rise: 20, 50, 80 for instance.")
    if steps and strategy != "canary":
        raise InvalidSpec("'instance_steps' are for the canary strategy.")
    return paas_starter.Strategy(strategy, in_flight, tuple(steps))


def active_deployment(app_id: str) -> Deployment | None:
    """The app's rolling or canary deployment under way, if one is."""
    with deps.db().session() as s:
        return s.scalars(
            select(Deployment)
            .where(Deployment.app_id == app_id, Deployment.state.in_(ACTIVE))
            .where(Deployment.strategy != "recreate")
            .order_by(Deployment.created_at.desc())
        ).first()


def refuse_while_deploying(app: App) -> None:
    """One deployment at a time (409 naming the one under way)."""
    active = active_deployment(app.id)
    if active is not None:
        raise Conflict(
            f"Deployment {active.id} of app {app.name} is {active.state}: "
            "continue or cancel it first."
        )


@bp.get("/v1/apps/<app_id>/deployments")
def list_deployments(app_id: str) -> Response:
    """The app's deployments, newest first."""
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    with deps.db().session() as s:
        rows = s.scalars(
            select(Deployment)
            .where(Deployment.app_id == app.id)
            .order_by(Deployment.created_at.desc(), Deployment.revision.desc())
        )
        return jsonify({"deployments": [views.deployment_view(d) for d in rows]})


@bp.get("/v1/apps/<app_id>/deployments/<deployment_id>")
def show_deployment(app_id: str, deployment_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    with deps.db().session() as s:
        row = s.get(Deployment, deployment_id)
        if row is None or row.app_id != app.id:
            raise NotFound(f"Deployment {deployment_id} could not be found.")
        return jsonify({"deployment": views.deployment_view(row)})


@bp.post("/v1/apps/<app_id>/actions/continue-deployment")
def continue_deployment(app_id: str) -> Response:
    """Let a paused canary deployment go on to its next step."""
    return _tell(app_id, "continue_deployment")


@bp.post("/v1/apps/<app_id>/actions/cancel-deployment")
def cancel_deployment(app_id: str) -> Response:
    """Stop the deployment under way: the app returns to the release it ran before."""
    return _tell(app_id, "cancel_deployment")


def _tell(app_id: str, update: str) -> Response:
    from api.paas.builds import supervisor_input

    ctx = current()
    authorize(ctx, "paas:apps:push")
    app = load_app(app_id, ctx)
    if app.release_id is None:
        raise Conflict(f"App {app.name} has no deployment.")
    ack = deps.bridge().run(
        lambda c: paas_starter.update(c, supervisor_input(app), update), UPDATE_SECONDS
    )
    return jsonify({"app": render(app.id), "deployment_id": ack.deployment_id})


@bp.post("/v1/apps/<app_id>/actions/rollback")
def rollback(app_id: str) -> tuple[Response, int]:
    """Deploy revision ``revision`` again as a new release (201): its droplet, env, command
    and health check, no staging; ``strategy`` and the rest as for a release."""
    from api.paas.builds import check_quota, new_release, supervisor_input

    ctx = current()
    authorize(ctx, "paas:apps:push")
    app = load_app(app_id, ctx)
    body = json_body()
    revision = body.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise InvalidSpec("'revision' must be a release version: 1 or more.")
    how = strategy_args(body)
    with deps.db().session() as s:
        old = s.scalars(
            select(Release).where(Release.app_id == app.id, Release.version == revision)
        ).first()
        build = s.get(Build, old.build_id) if old else None
    if old is None or build is None:
        raise NotFound(f"App {app.name} has no revision {revision}.")
    refuse_while_deploying(app)
    check_quota(app, app.instances, old.memory_mib)
    release = new_release(app, build, f"rollback to revision {revision}", like=old)
    deps.bridge().run(
        lambda c: paas_starter.deploy(c, supervisor_input(app), release.id, app.instances, how),
        UPDATE_SECONDS,
    )
    return jsonify({"release": views.release_view(release), "app": render(app.id)}), 201
