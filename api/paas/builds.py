"""Builds (staging a package into a droplet) and releases (what instances run)."""

from __future__ import annotations

from flask import Response, jsonify
from sqlalchemy import func, select

from activities.paas_records import pick_flavor
from api import deps
from api.context import current
from api.paas import bp, views
from api.paas.apps import load_app, render
from api.paas.deployments import refuse_while_deploying, strategy_args
from api.paas.packages import find_package
from api.policy import authorize
from api.starting import forget
from api.validation import json_body, optional_str, require_str
from nimbus import quota
from nimbus.db import Flavor, Server
from nimbus.db_paas import App, Build, Instance, Release
from nimbus.errors import Conflict, NotFound
from workflows import paas_starter
from workflows.app_supervisor import SupervisorInput


def supervisor_input(app: App) -> SupervisorInput:
    """How the app's supervisor is started, should it not run yet."""
    return paas_starter.supervisor_input(deps.settings(), app.project_id, app.id)


def check_quota(app: App, instances: int, memory_mib: int) -> None:
    """Refuse, before any work, a start the project's compute quota cannot hold: the
    app's ``instances`` servers replace the ones it runs now."""
    with deps.db().session() as s:
        flavor = pick_flavor(list(s.scalars(select(Flavor))), memory_mib)
        mine = (
            s.scalar(
                select(func.count())
                .select_from(Instance)
                .join(Server, Server.id == Instance.server_id)
                .where(Instance.app_id == app.id, Server.deleted_at.is_(None))
            )
            or 0
        )
        more = instances - int(mine)
        if more <= 0:
            return
        amounts = {"instances": more, "cores": more * flavor.vcpus, "ram": more * flavor.ram}
        quota.check(s, quota.Claim(app.project_id, amounts), deps.settings().quota_defaults)


@bp.post("/v1/apps/<app_id>/builds")
def create_build(app_id: str) -> tuple[Response, int]:
    """Stage a package of the project into a droplet (202; follow it in the app's log)."""
    ctx = current()
    authorize(ctx, "paas:apps:push")
    app = load_app(app_id, ctx)
    sha = require_str(json_body(), "package", "package", 64)
    find_package(ctx.project_id, sha)
    check_quota(app, app.instances, app.memory_mib)
    build = Build(
        app_id=app.id, project_id=app.project_id, package_sha256=sha, host=deps.settings().host_name
    )
    with deps.db().session() as s:
        s.add(build)
    try:
        deps.bridge().run(lambda c: paas_starter.start_stage(c, app.project_id, app.id, build.id))
    except Exception:
        forget(Build, build.id)
        raise
    return jsonify({"build": views.build_view(build)}), 202


def _load_build(app: App, build_id: str) -> Build:
    with deps.db().session() as s:
        build = s.get(Build, build_id)
    if build is None or build.app_id != app.id:
        raise NotFound(f"Build {build_id} could not be found.")
    return build


@bp.get("/v1/apps/<app_id>/builds")
def list_builds(app_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    with deps.db().session() as s:
        rows = s.scalars(
            select(Build).where(Build.app_id == app.id).order_by(Build.created_at.desc())
        )
        return jsonify({"builds": [views.build_view(b) for b in rows]})


@bp.get("/v1/apps/<app_id>/builds/<build_id>")
def show_build(app_id: str, build_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:show")
    return jsonify({"build": views.build_view(_load_build(load_app(app_id, ctx), build_id))})


def new_release(app: App, build: Build, description: str, like: Release | None = None) -> Release:
    """Fix the build and the app's current settings (or, for a rollback, the settings of
    the release ``like``) into the next release version."""
    with deps.db().session() as s:
        last = s.scalar(select(func.max(Release.version)).where(Release.app_id == app.id)) or 0
        release = Release(
            app_id=app.id,
            project_id=app.project_id,
            version=int(last) + 1,
            build_id=build.id,
            droplet_image_id=build.droplet_image_id or "",
            runtime=build.runtime or "python",
            command=like.command if like else app.command or build.command or "",
            env=dict(like.env if like else app.env),
            memory_mib=like.memory_mib if like else app.memory_mib,
            health_type=like.health_type if like else app.health_type,
            health_endpoint=like.health_endpoint if like else app.health_endpoint,
            timeout=like.timeout if like else app.timeout,
            description=description,
        )
        s.add(release)
    return release


@bp.post("/v1/apps/<app_id>/releases")
def create_release(app_id: str) -> tuple[Response, int]:
    """Release a staged build with the app's current settings and deploy it (201), rolled
    out as ``strategy`` (rolling, canary, recreate), ``max_in_flight`` and, for a canary,
    ``instance_steps`` say; the app's ``deployment`` then says when every instance runs,
    or why it failed and what serves instead."""
    ctx = current()
    authorize(ctx, "paas:apps:push")
    app = load_app(app_id, ctx)
    body = json_body()
    build = _load_build(app, require_str(body, "build_id", "build_id", 36))
    if build.state != "STAGED":
        raise Conflict(f"Build {build.id} is {build.state}, not STAGED.")
    how = strategy_args(body)
    refuse_while_deploying(app)
    check_quota(app, app.instances, app.memory_mib)
    release = new_release(app, build, optional_str(body, "description", "description") or "push")
    # The release stays if this fails: a deploy the supervisor accepted goes on even when
    # this request gave up waiting (its worker died, say), and a release is only a record.
    deps.bridge().run(
        lambda c: paas_starter.deploy(c, supervisor_input(app), release.id, app.instances, how)
    )
    return jsonify({"release": views.release_view(release), "app": render(app.id)}), 201


@bp.get("/v1/apps/<app_id>/releases")
def list_releases(app_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    with deps.db().session() as s:
        rows = s.scalars(
            select(Release).where(Release.app_id == app.id).order_by(Release.version.desc())
        )
        return jsonify({"releases": [views.release_view(r) for r in rows]})


def latest_release(app: App) -> Release | None:
    with deps.db().session() as s:
        return s.get(Release, app.release_id) if app.release_id else None
