"""Volumes (list, create, delete) and what a server's page does with them and with
floating IPs: attach and detach a volume, associate and release an address. Each is a
call to the block storage, compute or networking API as the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError, refusal
from dashboard.pages import go

bp = Blueprint("storage", __name__)
COMPUTE = "/compute/v2.1"
NETWORK = "/networking/v2.0"
MOVING = frozenset({"creating", "attaching", "detaching", "deleting", "extending"})


def _volumes_path() -> str:
    return f"/volume/v3/{g.session.project_id}/volumes"


def volumes_list() -> list[dict[str, Any]]:
    found = g.api.get(f"{_volumes_path()}/detail")["volumes"]
    return sorted(found, key=lambda v: (v.get("name") or "", v["id"]))


@bp.get("/volumes")
def volumes() -> str:
    found = volumes_list()
    polling = any(v["status"] in MOVING for v in found)
    return render_template(
        "volumes.html", volumes=found, polling=polling, error=request.args.get("error")
    )


@bp.get("/volumes/rows")
def volume_rows() -> str:
    found = volumes_list()
    polling = any(v["status"] in MOVING for v in found)
    return render_template("_volume_rows.html", volumes=found, polling=polling)


def _back(endpoint: str, error: str | None = None) -> WerkzeugResponse:
    return go(endpoint, error=error)


@bp.post("/volumes")
def create_volume() -> WerkzeugResponse:
    try:
        size = int(request.form.get("size") or 0)
    except ValueError:
        size = 0
    body = {"volume": {"name": request.form.get("name", "").strip() or None, "size": size}}
    try:
        if size < 1:
            raise ApiError(400, "The size must be a whole number of GiB, 1 or more.")
        g.api.json("POST", _volumes_path(), json=body)
    except ApiError as exc:
        return _back("storage.volumes", refusal(exc))
    return _back("storage.volumes")


@bp.post("/volumes/<volume_id>/delete")
def delete_volume(volume_id: str) -> WerkzeugResponse:
    try:
        g.api.json("DELETE", f"{_volumes_path()}/{volume_id}")
    except ApiError as exc:
        return _back("storage.volumes", refusal(exc, (401, 404)))
    return _back("storage.volumes")


def _to_server(server_id: str, error: str | None = None, message: str | None = None) -> Any:
    args: dict[str, Any] = {k: v for k, v in (("error", error), ("message", message)) if v}
    return redirect(url_for("compute.server", server_id=server_id, **args))


@bp.post("/servers/<server_id>/volumes")
def attach(server_id: str) -> WerkzeugResponse:
    volume_id = request.form.get("volume_id", "")
    body = {"volumeAttachment": {"volumeId": volume_id}}
    try:
        g.api.json("POST", f"{COMPUTE}/servers/{server_id}/os-volume_attachments", json=body)
    except ApiError as exc:
        return _to_server(server_id, error=refusal(exc))
    return _to_server(server_id, message="Volume attached.")


@bp.post("/servers/<server_id>/volumes/<volume_id>/detach")
def detach(server_id: str, volume_id: str) -> WerkzeugResponse:
    try:
        g.api.json("DELETE", f"{COMPUTE}/servers/{server_id}/os-volume_attachments/{volume_id}")
    except ApiError as exc:
        return _to_server(server_id, error=refusal(exc))
    return _to_server(server_id, message="Volume detached.")


def server_ports(server_id: str) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = g.api.get(f"{NETWORK}/ports", device_id=server_id)["ports"]
    return ports


def floating_ips() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = g.api.get(
        f"{NETWORK}/floatingips", project_id=g.session.project_id
    )["floatingips"]
    return found


def external_networks() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = g.api.get(f"{NETWORK}/networks", **{"router:external": "true"})[
        "networks"
    ]
    return found


@bp.post("/servers/<server_id>/floating-ip")
def associate(server_id: str) -> WerkzeugResponse:
    """Give the server's first port an address: a free one of the project, or a new one
    from the external network."""
    chosen = request.form.get("floating_ip_id", "")
    try:
        ports = server_ports(server_id)
        if not ports:
            raise ApiError(409, "The server has no port on a network to give an address to.")
        port_id = ports[0]["id"]
        if chosen:
            body = {"floatingip": {"port_id": port_id}}
            g.api.json("PUT", f"{NETWORK}/floatingips/{chosen}", json=body)
        else:
            networks = external_networks()
            if not networks:
                raise ApiError(409, "There is no external network to take an address from.")
            body = {"floatingip": {"floating_network_id": networks[0]["id"], "port_id": port_id}}
            g.api.json("POST", f"{NETWORK}/floatingips", json=body)
    except ApiError as exc:
        return _to_server(server_id, error=refusal(exc))
    return _to_server(server_id, message="Floating IP associated.")


@bp.post("/servers/<server_id>/floating-ip/<floating_ip_id>/release")
def disassociate(server_id: str, floating_ip_id: str) -> WerkzeugResponse:
    try:
        body = {"floatingip": {"port_id": None}}
        g.api.json("PUT", f"{NETWORK}/floatingips/{floating_ip_id}", json=body)
    except ApiError as exc:
        return _to_server(server_id, error=refusal(exc))
    return _to_server(server_id, message="Floating IP released from the server.")
