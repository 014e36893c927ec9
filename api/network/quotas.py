"""Neutron's quotas: list (admin), show, defaults, details, update and reset."""

from __future__ import annotations

from flask import Response, jsonify

from api import quotas
from api.context import current
from api.network import bp
from api.policy import authorize
from nimbus.quota import NETWORK


@bp.get("/v2.0/quotas")
def list_quotas() -> Response:
    """Every project with a network quota of its own (admin)."""
    authorize(current(), "quota:list")
    listed = [
        {**quotas.limits(project, NETWORK), "project_id": project, "tenant_id": project}
        for project in quotas.projects_with_limits(NETWORK)
    ]
    return jsonify({"quotas": listed})


@bp.get("/v2.0/quotas/<project_id>")
def show_quota(project_id: str) -> Response:
    quotas.may_see(current(), project_id)
    return jsonify({"quota": quotas.limits(project_id, NETWORK)})


@bp.get("/v2.0/quotas/<project_id>/default")
def show_quota_default(project_id: str) -> Response:
    authorize(current(), "quota:show")
    return jsonify({"quota": quotas.defaults(NETWORK)})


@bp.get("/v2.0/quotas/<project_id>/details")
def show_quota_details(project_id: str) -> Response:
    quotas.may_see(current(), project_id)
    limits, used = quotas.limits(project_id, NETWORK), quotas.usage(project_id, NETWORK)
    details = {n: {"limit": limits[n], "used": used[n], "reserved": 0} for n in NETWORK}
    return jsonify({"quota": details})


@bp.put("/v2.0/quotas/<project_id>")
def update_quota(project_id: str) -> Response:
    """Set limits; with ``check_limit``, refuse one below the project's usage (400)."""
    quotas.update(
        current(),
        project_id,
        "quota",
        NETWORK,
        ("check_limit", "force"),
        lambda flags: flags.get("check_limit") is not True,
    )
    return jsonify({"quota": quotas.limits(project_id, NETWORK)})


@bp.delete("/v2.0/quotas/<project_id>")
def delete_quota(project_id: str) -> tuple[str, int]:
    quotas.revert(current(), project_id, NETWORK)
    return "", 204
