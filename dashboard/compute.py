"""The project's overview and its servers: list, detail, actions and console log, each a
call to the compute API as the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError

bp = Blueprint("compute", __name__)
COMPUTE = "/compute/v2.1"
#: Statuses that change by themselves: a page showing one polls until none is left.
TRANSITIONAL = frozenset(
    {"BUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "REBUILD", "MIGRATING", "VERIFY_RESIZE"}
)
ACTIONS = {
    "start": ({"os-start": None}, "Starting"),
    "stop": ({"os-stop": None}, "Stopping"),
    "reboot": ({"reboot": {"type": "SOFT"}}, "Rebooting"),
    "hard-reboot": ({"reboot": {"type": "HARD"}}, "Rebooting (hard)"),
}


def moving(server: dict[str, Any]) -> bool:
    """Whether the server's status or task will change without anyone asking."""
    return server.get("status") in TRANSITIONAL or bool(server.get("OS-EXT-STS:task_state"))


def _meter(used: float, limit: float) -> dict[str, Any]:
    share = 0 if limit <= 0 else min(100, round(used * 100 / limit))
    return {"used": used, "limit": limit, "share": share, "unlimited": limit < 0}


@bp.get("/")
def overview() -> str:
    """Quota usage of the project, and what runs in it."""
    limits = g.api.get(f"{COMPUTE}/limits")["limits"]["absolute"]
    volume = g.api.get(f"/volume/v3/{g.session.project_id}/limits")["limits"]["absolute"]
    meters = {
        "Instances": _meter(limits["totalInstancesUsed"], limits["maxTotalInstances"]),
        "vCPUs": _meter(limits["totalCoresUsed"], limits["maxTotalCores"]),
        "RAM (MiB)": _meter(limits["totalRAMUsed"], limits["maxTotalRAMSize"]),
        "Volumes": _meter(volume["totalVolumesUsed"], volume["maxTotalVolumes"]),
        "Volume storage (GiB)": _meter(
            volume["totalGigabytesUsed"], volume["maxTotalVolumeGigabytes"]
        ),
    }
    servers = g.api.get(f"{COMPUTE}/servers/detail")["servers"]
    counts: dict[str, int] = {}
    for server in servers:
        counts[server["status"]] = counts.get(server["status"], 0) + 1
    return render_template("overview.html", meters=meters, counts=counts, servers=servers)


def _servers() -> list[dict[str, Any]]:
    servers = g.api.get(f"{COMPUTE}/servers/detail")["servers"]
    return sorted(servers, key=lambda s: (s["name"], s["id"]))


@bp.get("/servers")
def servers() -> str:
    found = _servers()
    return render_template("servers.html", servers=found, polling=any(map(moving, found)))


@bp.get("/servers/rows")
def server_rows() -> str:
    """The table's body alone, for htmx to swap in while a status moves."""
    found = _servers()
    return render_template("_server_rows.html", servers=found, polling=any(map(moving, found)))


def _server(server_id: str) -> dict[str, Any]:
    server: dict[str, Any] = g.api.get(f"{COMPUTE}/servers/{server_id}")["server"]
    return server


@bp.get("/servers/<server_id>")
def server(server_id: str) -> str:
    found = _server(server_id)
    attached = g.api.get(f"{COMPUTE}/servers/{server_id}/os-volume_attachments")
    return render_template(
        "server.html",
        server=found,
        polling=moving(found),
        volumes=attached["volumeAttachments"],
        message=request.args.get("message"),
        error=request.args.get("error"),
    )


@bp.get("/servers/<server_id>/status")
def server_status(server_id: str) -> str:
    found = _server(server_id)
    return render_template("_server_status.html", server=found, polling=moving(found))


@bp.get("/servers/<server_id>/console")
def console(server_id: str) -> str:
    body = {"os-getConsoleOutput": {"length": 60}}
    output = g.api.json("POST", f"{COMPUTE}/servers/{server_id}/action", json=body)
    return render_template("_console.html", output=output.get("output", ""))


@bp.post("/servers/<server_id>/actions/<action>")
def act(server_id: str, action: str) -> WerkzeugResponse:
    """Start, stop, reboot or delete; the API's refusal is shown on the server's page."""
    try:
        if action == "delete":
            g.api.json("DELETE", f"{COMPUTE}/servers/{server_id}")
            return redirect(url_for("compute.servers"))
        if action not in ACTIONS:
            raise ApiError(404, f"There is no server action {action}.")
        body, said = ACTIONS[action]
        g.api.json("POST", f"{COMPUTE}/servers/{server_id}/action", json=body)
    except ApiError as exc:
        if exc.status in (401, 404):
            raise
        return redirect(url_for("compute.server", server_id=server_id, error=exc.message))
    return redirect(url_for("compute.server", server_id=server_id, message=f"{said}."))
