"""Nova's quota sets (``os-quota-sets``) and absolute limits (``limits``), microversion 2.1.

Nimbus enforces instances, cores and ram; 2.1 also shows the network service's floating
IP and security group quotas under Nova's names, and Nova's own other quotas at their
defaults (they guard features this cloud does not offer, so they cannot be set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request

from api import quotas
from api.compute import bp
from api.context import current
from api.policy import authorize
from nimbus.quota import COMPUTE

#: Nova's quotas that Nimbus shows at Nova's defaults and neither sets nor enforces.
_FIXED = {
    "fixed_ips": -1,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "injected_files": 5,
    "key_pairs": 100,
    "metadata_items": 128,
    "server_group_members": 10,
    "server_groups": 10,
}

#: Nova's key -> the resource whose limit it shows.
_SOURCES = {
    **{name: name for name in COMPUTE},
    "floating_ips": "floatingip",
    "security_groups": "security_group",
    "security_group_rules": "security_group_rule",
}


def _quota_set(limits: Mapping[str, int]) -> dict[str, int]:
    return {**_FIXED, **{key: limits[name] for key, name in _SOURCES.items()}}


def _detail(limits: Mapping[str, int], used: Mapping[str, int]) -> dict[str, Any]:
    in_use = {key: used[name] for key, name in _SOURCES.items()}
    return {
        key: {"in_use": in_use.get(key, 0), "limit": limit, "reserved": 0}
        for key, limit in _quota_set(limits).items()
    }


@bp.get("/v2.1/os-quota-sets/<project_id>")
def show_quota_set(project_id: str) -> Response:
    quotas.may_see(current(), project_id)
    limits = quotas.limits(project_id, _SOURCES.values())
    return jsonify({"quota_set": {"id": project_id, **_quota_set(limits)}})


@bp.get("/v2.1/os-quota-sets/<project_id>/detail")
def show_quota_set_detail(project_id: str) -> Response:
    quotas.may_see(current(), project_id)
    limits = quotas.limits(project_id, _SOURCES.values())
    used = quotas.usage(project_id, _SOURCES.values())
    return jsonify({"quota_set": {"id": project_id, **_detail(limits, used)}})


@bp.get("/v2.1/os-quota-sets/<project_id>/defaults")
def show_quota_set_defaults(project_id: str) -> Response:
    authorize(current(), "quota:show")
    defaults = quotas.defaults(_SOURCES.values())
    return jsonify({"quota_set": {"id": project_id, **_quota_set(defaults)}})


@bp.put("/v2.1/os-quota-sets/<project_id>")
def update_quota_set(project_id: str) -> Response:
    quotas.update(
        current(),
        project_id,
        "quota_set",
        COMPUTE,
        ("force",),
        lambda flags: flags.get("force") is True,
    )
    return jsonify({"quota_set": _quota_set(quotas.limits(project_id, _SOURCES.values()))})


@bp.delete("/v2.1/os-quota-sets/<project_id>")
def revert_quota_set(project_id: str) -> tuple[str, int]:
    quotas.revert(current(), project_id, COMPUTE)
    return "", 202


def _absolute(limits: Mapping[str, int], used: Mapping[str, int]) -> dict[str, int]:
    """Nova's absolute limits at 2.1 (network ones from the network service)."""
    return {
        "maxImageMeta": _FIXED["metadata_items"],
        "maxPersonality": _FIXED["injected_files"],
        "maxPersonalitySize": _FIXED["injected_file_content_bytes"],
        "maxServerMeta": _FIXED["metadata_items"],
        "maxTotalKeypairs": _FIXED["key_pairs"],
        "maxServerGroups": _FIXED["server_groups"],
        "maxServerGroupMembers": _FIXED["server_group_members"],
        "maxTotalInstances": limits["instances"],
        "maxTotalCores": limits["cores"],
        "maxTotalRAMSize": limits["ram"],
        "maxTotalFloatingIps": limits["floatingip"],
        "maxSecurityGroups": limits["security_group"],
        "maxSecurityGroupRules": limits["security_group_rule"],
        "totalInstancesUsed": used["instances"],
        "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"],
        "totalFloatingIpsUsed": used["floatingip"],
        "totalSecurityGroupsUsed": used["security_group"],
        "totalServerGroupsUsed": 0,
    }


@bp.get("/v2.1/limits")
def show_limits() -> Response:
    """The caller's project's limits and usage; an admin may name another (``tenant_id``)."""
    ctx = current()
    project_id = request.args.get("tenant_id") or ctx.project_id
    quotas.may_see(ctx, project_id)
    names = list(_SOURCES.values())
    limits, used = quotas.limits(project_id, names), quotas.usage(project_id, names)
    return jsonify({"limits": {"rate": [], "absolute": _absolute(limits, used)}})
