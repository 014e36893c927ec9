"""Apps: create, list, show, update, delete; their env and routes."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext, current
from api.paas import bp, views
from api.policy import allowed, authorize
from api.validation import json_body, require_dict
from nimbus.db import PAAS_USER, Role, RoleAssignment, User
from nimbus.db_paas import App, AppRoute, Instance
from nimbus.errors import Conflict, InvalidSpec, NotFound
from paas.manifest import AppManifest, validate_app_fields
from paas.services import vcap_services
from workflows import paas_starter


def load_app(app_id: str, ctx: RequestContext) -> App:
    """The app if the caller's project owns it (an admin may name any); else 404. Apps
    are found by id or, within the caller's project, by name."""
    with deps.db().session() as s:
        app = (
            s.get(App, app_id)
            or s.scalars(
                select(App).where(App.project_id == ctx.project_id, App.name == app_id)
            ).first()
        )
    if app is None or (app.project_id != ctx.project_id and not allowed(ctx, "paas:all_projects")):
        raise NotFound(f"App {app_id} could not be found.")
    return app


def routes_of(s: Session, app_id: str) -> list[str]:
    return sorted(s.scalars(select(AppRoute.hostname).where(AppRoute.app_id == app_id)))


def render(app_id: str) -> dict[str, Any]:
    """The app as the API shows it, read fresh."""
    with deps.db().session() as s:
        app = s.get(App, app_id)
        if app is None:
            raise NotFound(f"App {app_id} could not be found.")
        instances = list(s.scalars(select(Instance).where(Instance.app_id == app_id)))
        return views.app_view(app, routes_of(s, app_id), instances, deps.settings().apps_url_port)


def _manifest(body: dict[str, Any]) -> AppManifest:
    return AppManifest.from_json(require_dict(body, "app", "app"))


def _default_routes(m: AppManifest) -> list[str]:
    return list(m.routes) or [f"{m.name}.{deps.settings().apps_domain}"]


def _apply(app: App, m: AppManifest) -> None:
    app.instances, app.memory_mib, app.command = m.instances, m.memory_mib, m.command
    app.env, app.buildpack, app.timeout = dict(m.env), m.buildpack, m.timeout
    app.health_type, app.health_endpoint = m.health_type, m.health_endpoint


def _set_routes(s: Session, app_id: str, hostnames: list[str]) -> None:
    """Make the app's routes exactly ``hostnames``; one held by another app is a 409."""
    for host in hostnames:
        holder = s.get(AppRoute, host)
        if holder is not None and holder.app_id != app_id:
            raise Conflict(f"The route {host} is already taken by another app.")
    s.execute(
        delete(AppRoute).where(AppRoute.app_id == app_id, AppRoute.hostname.not_in(hostnames))
    )
    for host in hostnames:
        if s.get(AppRoute, host) is None:
            s.add(AppRoute(hostname=host, app_id=app_id))


def grant_paas(s: Session, project_id: str) -> None:
    """The PaaS service user acts in the project as a member (visible in the project's
    role assignments), so it can make the servers, volumes and images of its apps and
    database services there."""
    user = s.scalars(select(User).where(User.name == PAAS_USER)).first()
    role = s.scalars(select(Role).where(Role.name == "member")).first()
    if user is None or role is None:
        raise Conflict("The PaaS service user is missing: run `nimbus up` again.")
    if s.get(RoleAssignment, (user.id, project_id, role.id)) is None:
        s.add(RoleAssignment(user_id=user.id, project_id=project_id, role_id=role.id))


@bp.get("/v1/apps")
def list_apps() -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:list")
    query = select(App.id).where(App.project_id == ctx.project_id).order_by(App.name)
    if request.args.get("name"):
        query = query.where(App.name == request.args["name"])
    with deps.db().session() as s:
        ids = list(s.scalars(query))
    return jsonify({"apps": [render(i) for i in ids]})


@bp.post("/v1/apps")
def create_app() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "paas:apps:create")
    m = _manifest(json_body())
    app = App(project_id=ctx.project_id, name=m.name, state="STOPPED")
    _apply(app, m)
    try:
        with deps.db().session() as s:
            if s.scalars(
                select(App).where(App.project_id == ctx.project_id, App.name == m.name)
            ).first():
                raise Conflict(f"An app named {m.name} already exists in this project.")
            s.add(app)
            s.flush()
            _set_routes(s, app.id, _default_routes(m))
            grant_paas(s, ctx.project_id)
    except IntegrityError as exc:
        raise Conflict(f"An app named {m.name} or one of its routes already exists.") from exc
    return jsonify({"app": render(app.id)}), 201


@bp.get("/v1/apps/<app_id>")
def show_app(app_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:show")
    return jsonify({"app": render(load_app(app_id, ctx).id)})


@bp.patch("/v1/apps/<app_id>")
def update_app(app_id: str) -> Response:
    """Change the app's settings; they take effect with its next release (push or
    restart), as in Cloud Foundry. Its name cannot change."""
    ctx = current()
    authorize(ctx, "paas:apps:update")
    app = load_app(app_id, ctx)
    m = _manifest(json_body())
    if m.name != app.name:
        raise InvalidSpec(f"An app's name cannot change (it is {app.name}, not {m.name}).")
    try:
        with deps.db().session() as s:
            row = s.get(App, app.id)
            assert row is not None
            _apply(row, m)
            _set_routes(s, app.id, _default_routes(m))
    except IntegrityError as exc:
        raise Conflict("One of the app's routes is already taken by another app.") from exc
    return jsonify({"app": render(app.id)})


@bp.delete("/v1/apps/<app_id>")
def delete_app(app_id: str) -> tuple[Response, int]:
    """Stop every instance, take the app off the router, delete its droplets and rows."""
    ctx = current()
    authorize(ctx, "paas:apps:delete")
    app = load_app(app_id, ctx)
    with deps.db().session() as s:
        row = s.get(App, app.id)
        assert row is not None
        row.state = "DELETING"
    deps.bridge().run(lambda c: paas_starter.start_delete(c, app.project_id, app.id))
    return jsonify({"app": {"id": app.id, "state": "DELETING"}}), 202


@bp.get("/v1/apps/<app_id>/env")
def show_env(app_id: str) -> Response:
    """The app's own env; to those who may change the app, also what the platform gives
    its instances (``system_env``: ``VCAP_SERVICES`` with its bound services'
    credentials), as ``cf env`` shows them to a space developer."""
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    body: dict[str, Any] = {"env": app.env}
    if allowed(ctx, "paas:apps:update"):
        with deps.db().session() as s:
            vcap = vcap_services(s, app.id, deps.settings().region)
        body["system_env"] = {"VCAP_SERVICES": vcap}
    return jsonify(body)


@bp.patch("/v1/apps/<app_id>/env")
def update_env(app_id: str) -> Response:
    """Set (a string) or unset (null) variables; they reach instances at the next
    release (push or restart)."""
    ctx = current()
    authorize(ctx, "paas:apps:update")
    app = load_app(app_id, ctx)
    changes = require_dict(json_body(), "env", "env")
    env = dict(app.env)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    checked = validate_app_fields({"name": app.name, "env": env}, source="app").env
    with deps.db().session() as s:
        row = s.get(App, app.id)
        assert row is not None
        row.env = dict(checked)
    return jsonify({"env": dict(checked)})
