"""Service offerings, service instances and app bindings, in the way of Cloud Foundry's
marketplace, ``create-service`` and ``bind-service``.

A service is created and deleted by a workflow (202, then CREATING or DELETING until it
ends); a binding is a row, and reaches the app's instances from their next start. A bound
service cannot be deleted, and only an AVAILABLE one can be bound: each rule is one
conditional statement, so a bind and a delete racing cannot both win. Credentials are
never in a response here: the app's instances get them from the metadata service.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from api import deps
from api.context import RequestContext, current
from api.paas import bp
from api.paas.apps import grant_paas, load_app
from api.paas.views import iso
from api.policy import allowed, authorize
from api.validation import json_body, require_dict
from nimbus.db_paas import (
    AVAILABLE,
    CREATING,
    DELETING,
    FAILED,
    App,
    ServiceBinding,
    ServiceInstance,
)
from nimbus.errors import Conflict, InvalidSpec, NotFound
from paas.services import OFFERINGS, POSTGRESQL
from workflows import service_starter

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def service_view(row: ServiceInstance, bound: list[str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "project_id": row.project_id,
        "offering": row.offering,
        "plan": row.plan,
        "status": row.status,
        "status_reason": row.status_reason,
        "resources": dict(row.resources or {}),
        "bound_apps": bound,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _bound_apps(service_id: str) -> list[str]:
    with deps.db().session() as s:
        return sorted(
            s.scalars(
                select(App.name)
                .join(ServiceBinding, ServiceBinding.app_id == App.id)
                .where(ServiceBinding.service_id == service_id)
            )
        )


def load_service(service_id: str, ctx: RequestContext) -> ServiceInstance:
    """The service if the caller's project owns it (an admin may name any); by id or, in
    the caller's project, by name; else 404."""
    with deps.db().session() as s:
        row = (
            s.get(ServiceInstance, service_id)
            or s.scalars(
                select(ServiceInstance).where(
                    ServiceInstance.project_id == ctx.project_id, ServiceInstance.name == service_id
                )
            ).first()
        )
        if row is not None:
            s.expunge(row)
    if row is None or (row.project_id != ctx.project_id and not allowed(ctx, "paas:all_projects")):
        raise NotFound(f"Service {service_id} could not be found.")
    return row


def _render(service_id: str) -> dict[str, Any]:
    with deps.db().session() as s:
        row = s.get(ServiceInstance, service_id)
        if row is None:
            raise NotFound(f"Service {service_id} could not be found.")
        s.expunge(row)
    return service_view(row, _bound_apps(service_id))


@bp.get("/v1/service_offerings")
def list_offerings() -> Response:
    authorize(current(), "paas:services:list")
    return jsonify({"service_offerings": [o.view() for o in OFFERINGS.values()]})


@bp.get("/v1/services")
def list_services() -> Response:
    ctx = current()
    authorize(ctx, "paas:services:list")
    query = (
        select(ServiceInstance.id)
        .where(ServiceInstance.project_id == ctx.project_id)
        .order_by(ServiceInstance.name)
    )
    if request.args.get("name"):
        query = query.where(ServiceInstance.name == request.args["name"])
    with deps.db().session() as s:
        ids = list(s.scalars(query))
    return jsonify({"services": [_render(i) for i in ids]})


def _create_fields(body: dict[str, Any]) -> tuple[str, str, str]:
    spec = require_dict(body, "service", "service")
    unknown = set(spec) - {"name", "offering", "plan"}
    if unknown:
        raise InvalidSpec(f"Unknown service field(s): {', '.join(sorted(unknown))}.")
    name, offering = spec.get("name"), spec.get("offering")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidSpec(
            "'name' must be 1 to 63 letters, digits, '-', '_' or '.', starting with a letter "
            "or digit."
        )
    if not isinstance(offering, str) or offering not in OFFERINGS:
        raise InvalidSpec(f"'offering' must be one of: {', '.join(sorted(OFFERINGS))}.")
    plan = spec.get("plan", OFFERINGS[offering].plans[0])
    if plan not in OFFERINGS[offering].plans:
        plans = ", ".join(OFFERINGS[offering].plans)
        raise InvalidSpec(f"Offering {offering} has no plan {plan!r} (plans: {plans}).")
    return name, offering, str(plan)


@bp.post("/v1/services")
def create_service() -> tuple[Response, int]:
    """Write the row (CREATING), then start the create workflow; 202."""
    ctx = current()
    authorize(ctx, "paas:services:create")
    name, offering, plan = _create_fields(json_body())
    row = ServiceInstance(
        project_id=ctx.project_id, name=name, offering=offering, plan=plan, status=CREATING
    )
    try:
        with deps.db().session() as s:
            taken = select(ServiceInstance).where(
                ServiceInstance.project_id == ctx.project_id, ServiceInstance.name == name
            )
            if s.scalars(taken).first() is not None:
                raise Conflict(f"A service named {name} already exists in this project.")
            if offering == POSTGRESQL:
                grant_paas(s, ctx.project_id)
            s.add(row)
    except IntegrityError as exc:
        raise Conflict(f"A service named {name} already exists in this project.") from exc
    try:
        deps.bridge().run(
            lambda c: service_starter.start_create(c, ctx.project_id, row.id, offering)
        )
    except Exception as exc:
        # Nothing was made: FAILED with the reason, so that the user can delete it and
        # try again rather than finding a name taken by a service that never comes.
        with deps.db().session() as s:
            failed = s.get(ServiceInstance, row.id)
            if failed is not None:
                failed.status = FAILED
                failed.status_reason = f"the create could not be started: {exc}"[:2000]
        raise
    return jsonify({"service": _render(row.id)}), 202


@bp.get("/v1/services/<instance_id>")
def show_service(instance_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:services:show")
    return jsonify({"service": _render(load_service(instance_id, ctx).id)})


@bp.delete("/v1/services/<instance_id>")
def delete_service(instance_id: str) -> tuple[Response, int]:
    """409 while apps are bound to it or its create runs; else DELETING and the delete
    workflow started (again, for one already DELETING); 202."""
    ctx = current()
    authorize(ctx, "paas:services:delete")
    row = load_service(instance_id, ctx)
    bound = exists().where(ServiceBinding.service_id == row.id)
    with deps.db().session() as s:
        changed = s.execute(
            update(ServiceInstance)
            .where(
                ServiceInstance.id == row.id,
                ServiceInstance.status.in_((AVAILABLE, FAILED, DELETING)),
                ~bound,
            )
            .values(status=DELETING)
        ).rowcount  # type: ignore[attr-defined]
    if not changed:
        apps = _bound_apps(row.id)
        if apps:
            raise Conflict(
                f"Service {row.name} is bound to {', '.join(apps)}: unbind it first "
                f"(nimbus app unbind APP {row.name})."
            )
        raise Conflict(f"Service {row.name} is still being created: delete it once it is done.")
    deps.bridge().run(lambda c: service_starter.start_delete(c, row.project_id, row.id))
    return jsonify({"service": _render(row.id)}), 202


def binding_view(app: App, service: ServiceInstance, binding: ServiceBinding) -> dict[str, Any]:
    return {
        "app_id": app.id,
        "app_name": app.name,
        "service_id": service.id,
        "service_name": service.name,
        "offering": service.offering,
        "created_at": iso(binding.created_at),
    }


@bp.get("/v1/apps/<app_id>/bindings")
def list_bindings(app_id: str) -> Response:
    ctx = current()
    authorize(ctx, "paas:apps:show")
    app = load_app(app_id, ctx)
    with deps.db().session() as s:
        rows = s.execute(
            select(ServiceBinding, ServiceInstance)
            .join(ServiceInstance, ServiceInstance.id == ServiceBinding.service_id)
            .where(ServiceBinding.app_id == app.id)
            .order_by(ServiceInstance.name)
        ).all()
        views = [binding_view(app, service, binding) for binding, service in rows]
    return jsonify({"bindings": views})


@bp.post("/v1/apps/<app_id>/bindings")
def bind(app_id: str) -> tuple[Response, int]:
    """Bind the app to an AVAILABLE service of its project; 201. Its instances get the
    credentials from their next start (``nimbus app restart``)."""
    ctx = current()
    authorize(ctx, "paas:apps:update")
    app = load_app(app_id, ctx)
    spec = require_dict(json_body(), "binding", "binding")
    name = spec.get("service")
    if not isinstance(name, str) or not name:
        raise InvalidSpec("'service' must name a service (its name or id).")
    service = load_service(name, ctx)
    if service.project_id != app.project_id:
        raise NotFound(f"Service {name} could not be found.")
    binding = ServiceBinding(app_id=app.id, service_id=service.id)
    try:
        with deps.db().session() as s:
            # Claims the service's row: a delete racing with this bind waits, then sees it.
            available = s.execute(
                update(ServiceInstance)
                .where(ServiceInstance.id == service.id, ServiceInstance.status == AVAILABLE)
                .values(status=AVAILABLE)
            ).rowcount  # type: ignore[attr-defined]
            if not available:
                raise Conflict(
                    f"Service {service.name} is {service.status}: only an AVAILABLE service "
                    "can be bound."
                )
            if s.get(ServiceBinding, (app.id, service.id)) is not None:
                raise Conflict(f"App {app.name} is already bound to {service.name}.")
            s.add(binding)
    except IntegrityError as exc:
        raise Conflict(f"App {app.name} is already bound to {service.name}.") from exc
    return jsonify({"binding": binding_view(app, service, binding)}), 201


@bp.delete("/v1/apps/<app_id>/bindings/<instance_id>")
def unbind(app_id: str, instance_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "paas:apps:update")
    app = load_app(app_id, ctx)
    service = load_service(instance_id, ctx)
    with deps.db().session() as s:
        row = s.get(ServiceBinding, (app.id, service.id))
        if row is None:
            raise NotFound(f"App {app.name} is not bound to {service.name}.")
        s.delete(row)
    return "", 204
