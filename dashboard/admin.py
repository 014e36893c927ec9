"""Admin pages: a summary of the cloud, projects (members, quotas), users, roles and
hypervisor usage, each a call to the identity, compute, block storage or networking API
with the admin's token.

Every route of the blueprint first checks that the session holds the admin role: a member
or a reader gets the app's 403 page before any API call is made. The APIs' own policy
still applies behind it, and a refusal of theirs is shown as any other. The projects and
the users pages live in ``admin_projects`` and ``admin_users``, on this blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError
from dashboard.pages import go

bp = Blueprint("admin", __name__)
IDENTITY = "/identity/v3"
COMPUTE = "/compute/v2.1"
NETWORK = "/networking/v2.0"


@bp.before_request
def _admins_only() -> None:
    """Refuse anyone without the admin role before any call is made on their behalf (the
    app's own check has already sent a visitor without a session to sign in)."""
    if not g.session.is_admin:
        raise ApiError(403, "Only an administrator may use the admin pages.")


def back(
    endpoint: str, error: str | None = None, message: str | None = None, **values: Any
) -> WerkzeugResponse:
    """Redirect to ``endpoint``'s page, with the refusal or the news to show there."""
    return go(endpoint, error=error, message=message, **values)


def meter(used: float, limit: float | None) -> dict[str, Any]:
    """What a ``<meter>`` shows of ``used`` out of ``limit`` (``None``: not known; -1:
    unlimited, as quotas say)."""
    known = limit is not None and limit >= 0
    share = round(used * 100 / limit) if known and limit else 0
    return {"used": used, "limit": limit, "known": known, "share": min(share, 100)}


def projects() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = g.api.get(f"{IDENTITY}/projects")["projects"]
    return found


def users() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = g.api.get(f"{IDENTITY}/users")["users"]
    return found


def roles() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = g.api.get(f"{IDENTITY}/roles")["roles"]
    return found


def names(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each row's name by its id, to show a name where an API gives an id."""
    return {str(r["id"]): str(r["name"]) for r in rows}


def hypervisors() -> list[dict[str, Any]]:
    """Nova's hypervisor details: each compute host's capacity and what its servers take."""
    found: list[dict[str, Any]] = g.api.get(f"{COMPUTE}/os-hypervisors/detail")["hypervisors"]
    return found


def hypervisor_rows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nova's hypervisor details (2.53 to 2.87) as the table shows them, each resource a
    meter of used against total. Disks in Ceph are not the host's: ``local_gb`` 0 shows as
    no disk meter (``None``)."""
    return [
        {
            "host": h.get("hypervisor_hostname") or h.get("service", {}).get("host", ""),
            "state": h.get("state", ""),
            "status": h.get("status", ""),
            "vcpus": meter(h.get("vcpus_used", 0), h.get("vcpus")),
            "ram": meter(h.get("memory_mb_used", 0), h.get("memory_mb")),
            "disk": meter(h.get("local_gb_used", 0), h["local_gb"]) if h.get("local_gb") else None,
            "running": h.get("running_vms", 0),
        }
        for h in sorted(found, key=lambda h: str(h.get("hypervisor_hostname")))
    ]


def all_servers() -> list[dict[str, Any]]:
    """Every project's servers, with their flavor (what an admin is shown)."""
    found: list[dict[str, Any]] = g.api.get(f"{COMPUTE}/servers/detail", all_tenants="1")["servers"]
    return found


def allocated(servers: list[dict[str, Any]], by: str) -> dict[str, dict[str, Any]]:
    """What the servers' flavors take, summed by ``by`` (a server field: its project),
    with each group's number of servers and of running ones."""
    groups: dict[str, dict[str, Any]] = {}
    for server in servers:
        total = groups.setdefault(
            server.get(by) or "", {"servers": 0, "running": 0, "vcpus": 0, "ram": 0, "disk": 0}
        )
        flavor = server.get("flavor") or {}
        total["servers"] += 1
        total["running"] += server.get("status") == "ACTIVE"
        for key in ("vcpus", "ram", "disk"):
            total[key] += int(flavor.get(key) or 0)
    return groups


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """vCPUs and RAM in use against what the hypervisors have (disks are in Ceph)."""
    return {
        key: meter(sum(r[key]["used"] for r in rows), sum(r[key]["limit"] or 0 for r in rows))
        for key in ("vcpus", "ram")
    }


@bp.get("/admin")
def index() -> str:
    """Counts of projects, users and hypervisors, and the cloud's capacity in use."""
    rows = hypervisor_rows(hypervisors())
    return render_template(
        "admin.html",
        projects=len(projects()),
        users=len(users()),
        hypervisors=len(rows),
        totals=totals(rows),
    )


def project_usage(servers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each project that has servers: their number, and the instances, vCPUs and RAM they
    take as meters against the project's compute quota (the API has no
    os-simple-tenant-usage to ask instead)."""
    project_names = names(projects())
    rows = []
    for project_id, use in allocated(servers, "tenant_id").items():
        limits = g.api.get(f"{COMPUTE}/os-quota-sets/{project_id}")["quota_set"]
        rows.append(
            {
                "id": project_id,
                "name": project_names.get(project_id, project_id),
                "running": use["running"],
                "instances": meter(use["servers"], limits.get("instances")),
                "vcpus": meter(use["vcpus"], limits.get("cores")),
                "ram": meter(use["ram"], limits.get("ram")),
                "disk": use["disk"],
            }
        )
    return sorted(rows, key=lambda r: (r["name"], r["id"]))


@bp.get("/admin/hypervisors")
def hypervisors_page() -> str:
    """Each hypervisor's use, and each project's use against its quota."""
    return render_template(
        "admin_hypervisors.html",
        rows=hypervisor_rows(hypervisors()),
        usage=project_usage(all_servers()),
    )


from dashboard import admin_projects, admin_users  # noqa: E402,F401  (routes register on bp)
