"""Cinder's volume transfers, read-only and empty: Nimbus does not move volumes between
projects, so there is never a transfer to list; the dashboards' volume panel lists them
(``os-volume-transfer``, and ``volume-transfers`` from 3.55)."""

from __future__ import annotations

from flask import Response, jsonify

from api.context import current
from api.policy import authorize
from api.volume import bp


@bp.get("/v3/<project_id>/os-volume-transfer")
@bp.get("/v3/<project_id>/os-volume-transfer/detail")
@bp.get("/v3/<project_id>/volume-transfers")
@bp.get("/v3/<project_id>/volume-transfers/detail")
def list_transfers(project_id: str) -> Response:
    authorize(current(), "volume:list")
    return jsonify({"transfers": []})
