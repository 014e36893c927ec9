"""Nova's quota sets (``os-quota-sets``) and absolute limits (``limits``).

Nimbus enforces instances, cores and ram; 2.1 also shows the network service's floating
IP and security group quotas under Nova's names, and Nova's own other quotas at their
defaults (they guard features this cloud does not offer, so they cannot be set). As in
Nova, 2.36 drops the network ones (and ``fixed_ips``), 2.39 the ``maxImageMeta`` limit,
and 2.57 the personality (injected file) ones; from 2.75 unknown query parameters are 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request

from api import quotas
from api.compute import bp
from api.context import current
from api.microversion import at_least
from api.policy import authorize
from api.validation import check_query
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


#: Quotas the microversions took out of Nova's views: those proxied to the network
#: service (2.36), and personality files (2.57).
_DROPPED = {
    "2.36": ("fixed_ips", "floating_ips", "security_groups", "security_group_rules"),
    "2.57": ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes"),
}


def _dropped() -> set[str]:
    """The quota keys the request's version no longer shows."""
    return {key for version, keys in _DROPPED.items() if at_least(version) for key in keys}


def _quota_set(limits: Mapping[str, int]) -> dict[str, int]:
    every = {**_FIXED, **{key: limits[name] for key, name in _SOURCES.items()}}
    hidden = _dropped()
    return {key: value for key, value in every.items() if key not in hidden}


def _detail(limits: Mapping[str, int], used: Mapping[str, int]) -> dict[str, Any]:
    in_use = {key: used[name] for key, name in _SOURCES.items()}
    return {
        key: {"in_use": in_use.get(key, 0), "limit": limit, "reserved": 0}
        for key, limit in _quota_set(limits).items()
    }


def _check_query(*allowed: str) -> None:
    if at_least("2.75"):
        check_query(set(allowed))


@bp.get("/v2.1/os-quota-sets/<project_id>")
def show_quota_set(project_id: str) -> Response:
    quotas.may_see(current(), project_id)
    _check_query("user_id")
    limits = quotas.limits(project_id, _SOURCES.values())
    return jsonify({"quota_set": {"id": project_id, **_quota_set(limits)}})


@bp.get("/v2.1/os-quota-sets/<project_id>/detail")
def show_quota_set_detail(project_id: str) -> Response:
    quotas.may_see(current(), project_id)
    _check_query("user_id")
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


#: Nova's quota key -> the absolute limits that show it.
_LIMIT_NAMES = {
    "ram": ("maxTotalRAMSize",),
    "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",),
    "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",),
    "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",),
    "server_group_members": ("maxServerGroupMembers",),
}
#: The usage Nova shows -> its quota key.
_USED_NAMES = {
    "totalRAMUsed": "ram",
    "totalCoresUsed": "cores",
    "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips",
    "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}


def _absolute(limits: Mapping[str, int], used: Mapping[str, int]) -> dict[str, int]:
    """Nova's absolute limits, as its view builds them for the request's version (the
    network ones from the network service)."""
    shown = _quota_set(limits)
    in_use = {key: used[name] for key, name in _SOURCES.items()}
    absolute = {
        name: shown[key]
        for key, names in _LIMIT_NAMES.items()
        if key in shown
        for name in names
        if not (name == "maxImageMeta" and at_least("2.39"))
    }
    for name, key in _USED_NAMES.items():
        if key in shown:
            absolute[name] = in_use.get(key, 0)
    return absolute


@bp.get("/v2.1/limits")
def show_limits() -> Response:
    """The caller's project's limits and usage; an admin may name another (``tenant_id``)."""
    ctx = current()
    _check_query("tenant_id")
    project_id = request.args.get("tenant_id") or ctx.project_id
    quotas.may_see(ctx, project_id)
    names = list(_SOURCES.values())
    limits, used = quotas.limits(project_id, names), quotas.usage(project_id, names)
    return jsonify({"limits": {"rate": [], "absolute": _absolute(limits, used)}})
