"""What a user does to a running app: scale, stop, start, restart; and what it reads:
instances, events, logs."""

from __future__ import annotations

from flask import Response, jsonify, request
from sqlalchemy import select

from api import deps
from api.context import current
from api.paas import UPDATE_SECONDS, bp, views
from api.paas.apps import load_app, render
from api.paas.builds import check_quota, latest_release, new_release, supervisor_input
from api.policy import authorize
from api.validation import int_query, json_body
from nimbus.db import Server
from nimbus.db_paas import App, AppEvent, Build, Instance, Release
from nimbus.errors import Conflict, InvalidSpec
from paas import logstore
from workflows import paas_starter

MAX_INSTANCES = 100


def _instances_arg() -> int:
    value = json_body().get("instances")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INSTANCES:
        raise InvalidSpec(f"'instances' must be an integer from 0 to {MAX_INSTANCES}.")
    return value


def _save(app_id: str, **values: object) -> None:
    with deps.db().session() as s:
        row = s.get(App, app_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


def _settings_changed(app: App, release: Release) -> bool:
    """Whether the app's settings differ from what its release fixed."""
    command = app.command or release.command
    return (
        dict(app.env),
        command,
        app.memory_mib,
        app.health_type,
        app.health_endpoint,
        app.timeout,
    ) != (
        dict(release.env),
        release.command,
        release.memory_mib,
        release.health_type,
        release.health_endpoint,
        release.timeout,
    )


@bp.post("/v1/apps/<app_id>/actions/scale")
def scale(app_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:scale")
    app = load_app(app_id, ctx)
    instances = _instances_arg()
    check_quota(app, instances, app.memory_mib)
    if app.release_id is None:
        _save(app.id, instances=instances)
    else:
        deps.bridge().run(
            lambda c: paas_starter.scale(c, supervisor_input(app), instances), UPDATE_SECONDS
        )
    return jsonify({"app": render(app.id)})


@bp.post("/v1/apps/<app_id>/actions/<action>")
def act(app_id: str, action: str) -> Response:
    """``stop``, ``start`` or ``restart`` the app's instances."""
    ctx = current()
    authorize(ctx, "paas:apps:scale")
    app = load_app(app_id, ctx)
    if action not in ("stop", "start", "restart"):
        raise InvalidSpec(f"Unknown action {action!r}: scale, stop, start or restart.")
    release = latest_release(app)
    if release is None:
        if action == "stop":
            _save(app.id, state="STOPPED")
            return jsonify({"app": render(app.id)})
        raise Conflict(f"App {app.name} has no release yet: push it first.")
    if action != "stop":
        check_quota(app, app.instances, app.memory_mib)
    if action == "restart" and _settings_changed(app, release):
        _redeploy(app, release)
    else:
        deps.bridge().run(
            lambda c: paas_starter.update(c, supervisor_input(app), action), UPDATE_SECONDS
        )
    return jsonify({"app": render(app.id)})


def _redeploy(app: App, release: Release) -> None:
    """A restart after settings changed: a new release of the same build."""
    with deps.db().session() as s:
        build = s.get(Build, release.build_id)
    assert build is not None
    fresh = new_release(app, build, "restart with changed settings")
    how = paas_starter.Strategy("recreate")  # a restart replaces every instance at once
    deps.bridge().run(
        lambda c: paas_starter.deploy(c, supervisor_input(app), fresh.id, app.instances, how),
        UPDATE_SECONDS,
    )


@bp.get("/v1/apps/<app_id>/instances")
def list_instances(app_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    with deps.db().session() as s:
        rows = list(
            s.scalars(select(Instance).where(Instance.app_id == app.id).order_by(Instance.index))
        )
        status = dict(
            s.execute(
                select(Server.id, Server.status).where(Server.id.in_([r.server_id for r in rows]))
            ).all()
        )
    body = [
        {**views.instance_view(r), "server_status": status.get(r.server_id or "")} for r in rows
    ]
    return jsonify({"instances": body})


@bp.get("/v1/apps/<app_id>/events")
def list_events(app_id: str) -> Response:
    """The app's events, newest first."""
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    limit = int_query("limit", 50, 1, 1000)
    with deps.db().session() as s:
        rows = s.scalars(
            select(AppEvent)
            .where(AppEvent.app_id == app.id)
            .order_by(AppEvent.id.desc())
            .limit(limit)
        )
        return jsonify({"events": [views.event_view(e) for e in rows]})


@bp.get("/v1/apps/<app_id>/logs")
def list_logs(app_id: str) -> Response:
    """Log lines after sequence number ``after`` (to follow), or the newest ``limit``
    lines without it; ``dropped`` counts lines the bound removed."""
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    limit = int_query("limit", 200, 1, 5000)
    after = int_query("after", -1, 0, 2**62) if "after" in request.args else -1
    lines = logstore.read(deps.db(), app.id, after, limit, request.args.get("source"))
    with deps.db().session() as s:
        row = s.get(App, app.id)
        dropped = row.log_dropped if row else 0
    body = [{"seq": x.seq, "at": x.at, "source": x.source, "line": x.line} for x in lines]
    last = lines[-1].seq if lines else max(after, 0)
    return jsonify({"lines": body, "last": last, "dropped": dropped})
