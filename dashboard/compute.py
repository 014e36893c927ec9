"""The project's overview and its servers: list, detail, actions and console log, each a
call to the compute API as the signed-in user."""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse
from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError, refusal

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
    from dashboard import storage

    found = _server(server_id)
    attached = g.api.get(f"{COMPUTE}/servers/{server_id}/os-volume_attachments")
    ports = {p["id"] for p in storage.server_ports(server_id)}
    addresses = storage.floating_ips()
    return render_template(
        "server.html",
        server=found,
        polling=moving(found),
        volumes=attached["volumeAttachments"],
        available=[v for v in storage.volumes_list() if v["status"] == "available"],
        floating=[f for f in addresses if f.get("port_id") in ports],
        free_floating=[f for f in addresses if not f.get("port_id")],
        operations=operations(server_id),
        message=request.args.get("message"),
        error=request.args.get("error"),
    )


#: How many of a server's latest operations its page shows, each with its steps.
OPERATIONS_SHOWN = 8


def _seconds(start: str | None, finish: str | None) -> float | None:
    if not start or not finish:
        return None
    began = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    ended = dt.datetime.fromisoformat(finish.replace("Z", "+00:00"))
    return (ended - began).total_seconds()


def operations(server_id: str) -> list[dict[str, Any]]:
    """The server's latest operations (Nova's instance actions, which Nimbus reads from
    their workflows), each with its steps, their durations and results, and a link to its
    workflow in the Temporal web UI."""
    path = f"{COMPUTE}/servers/{server_id}/os-instance-actions"
    actions = g.api.get(path)["instanceActions"][:OPERATIONS_SHOWN]
    ui = current_app.config["TEMPORAL_UI"]
    shown = []
    for action in actions:
        detail = g.api.get(f"{path}/{action['request_id']}")["instanceAction"]
        steps = [
            {**e, "seconds": _seconds(e.get("start_time"), e.get("finish_time"))}
            for e in detail.get("events", [])
        ]
        run_id = str(action["request_id"]).removeprefix("req-")
        query = urllib.parse.quote(f'RunId="{run_id}"')
        shown.append({**action, "steps": steps, "history": f"{ui}/workflows?query={query}"})
    return shown


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
        return redirect(
            url_for("compute.server", server_id=server_id, error=refusal(exc, (401, 404)))
        )
    return redirect(url_for("compute.server", server_id=server_id, message=f"{said}."))


def _choices() -> dict[str, list[dict[str, Any]]]:
    """What a server may be launched with, as the project sees it."""
    images = g.api.get("/image/v2/images", status="active")["images"]
    flavors = g.api.get(f"{COMPUTE}/flavors/detail")["flavors"]
    networks = g.api.get("/networking/v2.0/networks")["networks"]
    keypairs = [k["keypair"] for k in g.api.get(f"{COMPUTE}/os-keypairs")["keypairs"]]
    groups = g.api.get("/networking/v2.0/security-groups", project_id=g.session.project_id)[
        "security_groups"
    ]
    return {
        "images": sorted(images, key=lambda i: i.get("name") or ""),
        "flavors": sorted(flavors, key=lambda f: (f["ram"], f["name"])),
        "networks": [n for n in networks if not n.get("router:external")],
        "keypairs": keypairs,
        "groups": groups,
    }


@bp.get("/servers/launch")
def launch_form() -> str:
    if not g.session.can_write:
        raise ApiError(403, "A reader cannot launch servers.")
    # The images page's "Launch" names its image; the rest of the form starts empty.
    preset = {"image": request.args["image"]} if request.args.get("image") else {}
    return render_template("launch.html", choices=_choices(), form=preset, error=None)


@bp.post("/servers/launch")
def launch() -> Any:
    """Create the server(s) through the compute API; its refusal is shown on the form."""
    form = request.form
    try:
        count = int(form.get("count") or 1)
    except ValueError:
        count = 0
    server: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "imageRef": form.get("image", ""),
        "flavorRef": form.get("flavor", ""),
        "min_count": count,
        "max_count": count,
    }
    network = form.get("network", "")
    server["networks"] = [{"uuid": network}] if network else "none"
    if form.get("keypair"):
        server["key_name"] = form["keypair"]
    groups = form.getlist("security_groups")
    if groups:
        server["security_groups"] = [{"name": name} for name in groups]
    if form.get("user_data", "").strip():
        server["user_data"] = base64.b64encode(form["user_data"].encode()).decode()
    try:
        if not server["name"]:
            raise ApiError(400, "Give the server a name.")
        if count < 1:
            raise ApiError(400, "The count must be a whole number, 1 or more.")
        made = g.api.json("POST", f"{COMPUTE}/servers", json={"server": server})
    except ApiError as exc:
        page = render_template("launch.html", choices=_choices(), form=form, error=refusal(exc))
        return page, exc.status
    if count == 1 and "server" in made:
        return redirect(url_for("compute.server", server_id=made["server"]["id"]))
    return redirect(url_for("compute.servers"))


@bp.get("/keypairs")
def keypairs() -> str:
    found = [k["keypair"] for k in g.api.get(f"{COMPUTE}/os-keypairs")["keypairs"]]
    return render_template("keypairs.html", keypairs=found, error=request.args.get("error"))


@bp.post("/keypairs")
def create_keypair() -> Any:
    """Create a key pair (its private key shown once, on this answer alone) or import a
    public key."""
    body: dict[str, Any] = {"name": request.form.get("name", "").strip()}
    if request.form.get("public_key", "").strip():
        body["public_key"] = request.form["public_key"].strip()
    try:
        if not body["name"]:
            raise ApiError(400, "Give the key pair a name.")
        made = g.api.json("POST", f"{COMPUTE}/os-keypairs", json={"keypair": body})["keypair"]
    except ApiError as exc:
        return redirect(url_for("compute.keypairs", error=refusal(exc)))
    if made.get("private_key"):
        return render_template("keypair_made.html", keypair=made)
    return redirect(url_for("compute.keypairs"))


@bp.post("/keypairs/<name>/delete")
def delete_keypair(name: str) -> Any:
    try:
        g.api.json("DELETE", f"{COMPUTE}/os-keypairs/{urllib.parse.quote(name, safe='')}")
    except ApiError as exc:
        return redirect(url_for("compute.keypairs", error=refusal(exc, (401, 404))))
    return redirect(url_for("compute.keypairs"))
