"""Admin pages for projects: list, create, enable or disable, delete; and a project's page
with its members (grant and revoke a role) and its quotas in the compute, block storage
and networking APIs, each shown as in use against its limit and set in one form per
service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.admin import (
    COMPUTE,
    IDENTITY,
    NETWORK,
    back,
    bp,
    meter,
    names,
    projects,
    roles,
    users,
)
from dashboard.apiclient import ApiError, refusal


@bp.get("/admin/projects")
def projects_page() -> str:
    domains = names(g.api.get(f"{IDENTITY}/domains")["domains"])
    return render_template(
        "admin_projects.html",
        projects=projects(),
        domains=domains,
        error=request.args.get("error"),
        message=request.args.get("message"),
    )


@bp.post("/admin/projects")
def create_project() -> WerkzeugResponse:
    name = request.form.get("name", "").strip()
    body = {"project": {"name": name, "description": request.form.get("description", "")}}
    try:
        if not name:
            raise ApiError(400, "Give the project a name.")
        g.api.json("POST", f"{IDENTITY}/projects", json=body)
    except ApiError as exc:
        return back("admin.projects_page", refusal(exc))
    return back("admin.projects_page", message=f"Project {name} created.")


def _not_current(project_id: str, what: str) -> None:
    """Disabling or deleting the project the admin works in would end its session."""
    if project_id == g.session.project_id:
        raise ApiError(409, f"You cannot {what} the project you are signed in to.")


@bp.post("/admin/projects/<project_id>/enabled")
def set_project_enabled(project_id: str) -> WerkzeugResponse:
    """Enable or disable the project (disabling it revokes its tokens)."""
    enabled = request.form.get("enabled", "") == "true"
    try:
        if not enabled:
            _not_current(project_id, "disable")
        path = f"{IDENTITY}/projects/{project_id}"
        g.api.json("PATCH", path, json={"project": {"enabled": enabled}})
    except ApiError as exc:
        return back("admin.projects_page", refusal(exc, (401, 404)))
    said = "enabled" if enabled else "disabled"
    return back("admin.projects_page", message=f"Project {said}.")


@bp.post("/admin/projects/<project_id>/delete")
def delete_project(project_id: str) -> WerkzeugResponse:
    """Delete the project; the API refuses while it still owns resources."""
    try:
        _not_current(project_id, "delete")
        g.api.json("DELETE", f"{IDENTITY}/projects/{project_id}")
    except ApiError as exc:
        return back("admin.projects_page", refusal(exc, (401, 404)))
    return back("admin.projects_page", message="Project deleted.")


def members(project_id: str) -> list[dict[str, Any]]:
    """The project's role assignments: one row per user and role, with their names."""
    found = g.api.get(
        f"{IDENTITY}/role_assignments", **{"scope.project.id": project_id, "include_names": "1"}
    )["role_assignments"]
    rows = [
        {
            "user_id": a["user"]["id"],
            "user": a["user"].get("name", a["user"]["id"]),
            "role_id": a["role"]["id"],
            "role": a["role"].get("name", a["role"]["id"]),
        }
        for a in found
    ]
    return sorted(rows, key=lambda r: (r["user"], r["role"]))


@bp.get("/admin/projects/<project_id>")
def project_page(project_id: str) -> str:
    """The project's facts, members and quotas."""
    project = g.api.get(f"{IDENTITY}/projects/{project_id}")["project"]
    return render_template(
        "admin_project.html",
        project=project,
        members=members(project_id),
        users=sorted(users(), key=lambda u: u["name"]),
        roles=roles(),
        quotas={service.name: quota_rows(service, project_id) for service in SERVICES},
        services=SERVICES,
        error=request.args.get("error"),
        message=request.args.get("message"),
    )


def _to_project(project_id: str, error: str | None = None, message: str | None = None) -> Any:
    return back("admin.project_page", error, message, project_id=project_id)


@bp.post("/admin/projects/<project_id>/members")
def grant(project_id: str) -> WerkzeugResponse:
    """Grant a role on the project to a user (granting one held changes nothing)."""
    user_id, role_id = request.form.get("user_id", ""), request.form.get("role_id", "")
    try:
        if not user_id or not role_id:
            raise ApiError(400, "Pick a user and a role.")
        path = f"{IDENTITY}/projects/{project_id}/users/{user_id}/roles/{role_id}"
        g.api.json("PUT", path)
    except ApiError as exc:
        return _to_project(project_id, error=refusal(exc))
    return _to_project(project_id, message="Role granted.")


@bp.post("/admin/projects/<project_id>/members/<user_id>/roles/<role_id>/revoke")
def revoke(project_id: str, user_id: str, role_id: str) -> WerkzeugResponse:
    try:
        path = f"{IDENTITY}/projects/{project_id}/users/{user_id}/roles/{role_id}"
        g.api.json("DELETE", path)
    except ApiError as exc:
        return _to_project(project_id, error=refusal(exc))
    return _to_project(project_id, message="Role revoked.")


@dataclass(frozen=True)
class QuotaService:
    """One service's quota API: where it is, the key its bodies use, the limits the form
    may set, and the flag that makes it refuse a limit below the project's usage."""

    name: str
    title: str
    key: str
    settable: tuple[str, ...]
    strict: dict[str, bool]

    def path(self, project_id: str) -> str:
        if self.name == "compute":
            return f"{COMPUTE}/os-quota-sets/{project_id}"
        if self.name == "volume":  # Cinder's URL names the caller's project first
            return f"/volume/v3/{g.session.project_id}/os-quota-sets/{project_id}"
        return f"{NETWORK}/quotas/{project_id}"

    def usage(self, project_id: str) -> dict[str, dict[str, Any]]:
        """Each quota's limit and what the project uses of it (``in_use``)."""
        if self.name == "compute":
            found = g.api.get(f"{self.path(project_id)}/detail")["quota_set"]
        elif self.name == "volume":
            found = g.api.get(self.path(project_id), usage="True")["quota_set"]
        else:
            details = g.api.get(f"{self.path(project_id)}/details")["quota"]
            found = {k: {**v, "in_use": v.get("used", 0)} for k, v in details.items()}
        return {k: v for k, v in found.items() if isinstance(v, dict)}


#: The three quota APIs. The limits Nimbus enforces are the ones the forms set; the others
#: (Nova's key pairs, Cinder's backups, ...) are shown as the APIs give them.
SERVICES = (
    QuotaService("compute", "Compute", "quota_set", ("instances", "cores", "ram"), {}),
    QuotaService(
        "volume",
        "Block storage",
        "quota_set",
        ("volumes", "gigabytes", "snapshots"),
        {"skip_validation": False},
    ),
    QuotaService(
        "network",
        "Network",
        "quota",
        (
            "network",
            "subnet",
            "port",
            "router",
            "floatingip",
            "security_group",
            "security_group_rule",
        ),
        {"check_limit": True},
    ),  # fmt: skip
)
LABELS = {
    "instances": "Instances",
    "cores": "vCPUs",
    "ram": "RAM (MiB)",
    "key_pairs": "Key pairs",
    "gigabytes": "Gigabytes",
    "backup_gigabytes": "Backup gigabytes",
    "per_volume_gigabytes": "Gigabytes per volume",
    "network": "Networks",
    "subnet": "Subnets",
    "port": "Ports",
    "router": "Routers",
    "floatingip": "Floating IPs",
    "security_group": "Security groups",
    "security_group_rule": "Security group rules",
}


def quota_rows(service: QuotaService, project_id: str) -> list[dict[str, Any]]:
    """The service's quotas of the project, the settable ones first."""
    found = service.usage(project_id)
    order = {name: i for i, name in enumerate(service.settable)}
    return [
        {
            "name": name,
            "label": LABELS.get(name, name.replace("_", " ").capitalize()),
            "limit": quota["limit"],
            "meter": meter(quota.get("in_use", 0), quota["limit"]),
            "settable": name in order,
        }
        for name, quota in sorted(found.items(), key=lambda i: (order.get(i[0], 99), i[0]))
    ]


def _limit(text: str) -> int | str:
    """A limit as typed: a whole number, or the text as it is for the API to refuse."""
    try:
        return int(text.strip())
    except ValueError:
        return text


def changed_limits(service: QuotaService, current: dict[str, Any]) -> dict[str, int | str]:
    """The form's limits that differ from the current ones: only those are sent, so a
    limit nobody touched stays the default rather than becoming the project's own."""
    typed = {name: request.form.get(name) for name in service.settable}
    return {
        name: _limit(value)
        for name, value in typed.items()
        if value is not None and _limit(value) != current.get(name, {}).get("limit")
    }


@bp.post("/admin/projects/<project_id>/quotas/<service>")
def set_quotas(project_id: str, service: str) -> WerkzeugResponse:
    """Set the project's limits in one service; the API refuses one below the project's
    usage (the form asks it to), or a limit it does not take."""
    chosen = {s.name: s for s in SERVICES}.get(service)
    if chosen is None:
        raise ApiError(404, f"There is no quota service {service}.")
    try:
        changes = changed_limits(chosen, chosen.usage(project_id))
        if not changes:
            return _to_project(project_id, message=f"{chosen.title} quotas: nothing changed.")
        body = {chosen.key: {**changes, **chosen.strict}}
        g.api.json("PUT", chosen.path(project_id), json=body)
    except ApiError as exc:
        return _to_project(project_id, error=refusal(exc, (401, 404)))
    return _to_project(project_id, message=f"{chosen.title} quotas saved.")
