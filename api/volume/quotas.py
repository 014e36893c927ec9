"""Cinder's quota sets (``os-quota-sets``) and absolute limits (``limits``).

Nimbus enforces volumes, gigabytes (volumes and snapshots together) and snapshots; the
other Cinder quotas are shown at Cinder's defaults and cannot be set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request

from api import quotas
from api.context import current
from api.policy import authorize
from api.volume import bp
from nimbus.quota import VOLUME

#: Cinder's quotas for features Nimbus does not offer (backups, groups): shown, not set.
_FIXED = {"backups": 10, "backup_gigabytes": 1000, "groups": 10, "per_volume_gigabytes": -1}


def _quota_set(limits: Mapping[str, int]) -> dict[str, int]:
    return {**_FIXED, **limits}


def _with_usage(limits: Mapping[str, int], used: Mapping[str, int]) -> dict[str, Any]:
    return {
        key: {"in_use": used.get(key, 0), "limit": limit, "reserved": 0, "allocated": 0}
        for key, limit in _quota_set(limits).items()
    }


def _usage_wanted() -> bool:
    return request.args.get("usage", "").lower() in ("true", "1", "yes")


@bp.get("/v3/<project_id>/os-quota-sets/<target_id>")
def show_quota_set(project_id: str, target_id: str) -> Response:
    quotas.may_see(current(), target_id)
    limits = quotas.limits(target_id, VOLUME)
    if _usage_wanted():
        body = _with_usage(limits, quotas.usage(target_id, VOLUME))
    else:
        body = _quota_set(limits)
    return jsonify({"quota_set": {"id": target_id, **body}})


@bp.get("/v3/<project_id>/os-quota-sets/<target_id>/defaults")
def show_quota_set_defaults(project_id: str, target_id: str) -> Response:
    authorize(current(), "quota:show")
    return jsonify({"quota_set": {"id": target_id, **_quota_set(quotas.defaults(VOLUME))}})


@bp.put("/v3/<project_id>/os-quota-sets/<target_id>")
def update_quota_set(project_id: str, target_id: str) -> Response:
    quotas.update(
        current(),
        target_id,
        "quota_set",
        VOLUME,
        ("skip_validation",),
        lambda flags: flags.get("skip_validation", True) is not False,
    )
    return jsonify({"quota_set": _quota_set(quotas.limits(target_id, VOLUME))})


@bp.delete("/v3/<project_id>/os-quota-sets/<target_id>")
def revert_quota_set(project_id: str, target_id: str) -> tuple[str, int]:
    quotas.revert(current(), target_id, VOLUME)
    return "", 200


def _absolute(limits: Mapping[str, int], used: Mapping[str, int]) -> dict[str, int]:
    return {
        "maxTotalVolumes": limits["volumes"],
        "maxTotalSnapshots": limits["snapshots"],
        "maxTotalVolumeGigabytes": limits["gigabytes"],
        "maxTotalBackups": _FIXED["backups"],
        "maxTotalBackupGigabytes": _FIXED["backup_gigabytes"],
        "totalVolumesUsed": used["volumes"],
        "totalSnapshotsUsed": used["snapshots"],
        "totalGigabytesUsed": used["gigabytes"],
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }


@bp.get("/v3/<project_id>/limits")
def show_limits(project_id: str) -> Response:
    """The project's limits and usage; an admin may name another (``project_id``)."""
    ctx = current()
    target = request.args.get("project_id") or ctx.project_id
    quotas.may_see(ctx, target)
    limits, used = quotas.limits(target, VOLUME), quotas.usage(target, VOLUME)
    return jsonify({"limits": {"rate": [], "absolute": _absolute(limits, used)}})
