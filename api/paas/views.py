"""JSON shapes of the PaaS API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nimbus.db_paas import App, AppEvent, Build, Deployment, Instance, Release


def iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.replace(microsecond=0).isoformat() + "Z"


def app_view(
    app: App, routes: list[str], instances: list[Instance], url_port: str
) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "project_id": app.project_id,
        "state": app.state,
        "instances": app.instances,
        "memory_mib": app.memory_mib,
        "command": app.command,
        "health_check": {
            "type": app.health_type,
            "endpoint": app.health_endpoint,
            "timeout": app.timeout,
        },
        "buildpack": app.buildpack,
        "routes": routes,
        "urls": [f"http://{r}{url_port}/" for r in routes],
        "release_id": app.release_id,
        "deployment": {"state": app.deployment, "error": app.deployment_error},
        "running_instances": sum(1 for i in instances if i.state == "RUNNING"),
        "instance_states": [instance_view(i) for i in sorted(instances, key=lambda i: i.index)],
        "log_dropped": app.log_dropped,
        "metrics": {
            "responses": dict(app.responses or {}),
            "request_rate": app.request_rate,
        },
        "autoscaling": app.autoscaling,
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
    }


def instance_view(i: Instance) -> dict[str, Any]:
    return {
        "id": i.id,
        "index": i.index,
        "state": i.state,
        "server_id": i.server_id,
        "address": i.address,
        "release_id": i.release_id,
        "crashes": i.crashes,
        "since": iso(i.since),
        "responses": dict(i.responses or {}),
        "response_ms": i.response_ms,
    }


def build_view(b: Build) -> dict[str, Any]:
    return {
        "id": b.id,
        "app_id": b.app_id,
        "package": b.package_sha256,
        "state": b.state,
        "buildpack": b.buildpack,
        "runtime": b.runtime,
        "command": b.command,
        "droplet_image_id": b.droplet_image_id,
        "droplet_size": b.droplet_size,
        "error": b.error,
        "error_step": b.error_step,
        "created_at": iso(b.created_at),
        "finished_at": iso(b.finished_at),
    }


def release_view(r: Release) -> dict[str, Any]:
    return {
        "id": r.id,
        "app_id": r.app_id,
        "version": r.version,
        "build_id": r.build_id,
        "droplet_image_id": r.droplet_image_id,
        "runtime": r.runtime,
        "command": r.command,
        "env": r.env,
        "memory_mib": r.memory_mib,
        "health_check": {
            "type": r.health_type,
            "endpoint": r.health_endpoint,
            "timeout": r.timeout,
        },
        "description": r.description,
        "created_at": iso(r.created_at),
    }


def deployment_view(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "app_id": d.app_id,
        "release_id": d.release_id,
        "revision": d.revision,
        "previous_release_id": d.previous_release_id,
        "strategy": d.strategy,
        "max_in_flight": d.max_in_flight,
        "instance_steps": list(d.instance_steps or []),
        "step": d.step,
        "state": d.state,
        "reason": d.reason,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }


def event_view(e: AppEvent) -> dict[str, Any]:
    return {"id": e.id, "at": iso(e.at), "type": e.type, "message": e.message, "details": e.details}
