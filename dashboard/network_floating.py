"""Floating IPs: list (with the server each points at), allocate one from an external
network, associate it with a port of one of the project's servers, disassociate,
release. Each is a call to the networking API as the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import storage
from dashboard.apiclient import ApiError
from dashboard.network import (
    NETWORK,
    attempt,
    bp,
    is_server_port,
    listed,
    page_args,
    server_names,
    text,
)
from dashboard.network_routers import external_networks


def _targets(ports: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, str]]:
    """Each fixed address of the project's servers' ports: what an address may point at."""
    found = [
        {
            "value": f"{p['id']}|{ip['ip_address']}",
            "port_id": p["id"],
            "ip": ip["ip_address"],
            "server_id": p["device_id"],
            "server": names.get(p["device_id"], p["device_id"]),
        }
        for p in ports
        if is_server_port(p)
        for ip in p["fixed_ips"]
    ]
    return sorted(found, key=lambda t: (t["server"], t["ip"]))


@bp.get("/floating-ips")
def floating_ips() -> str:
    addresses = sorted(storage.floating_ips(), key=lambda f: f["floating_ip_address"])
    names = server_names()
    ports = {p["id"]: p for p in listed("ports", project_id=g.session.project_id)}
    externals = external_networks()
    used = {(f["port_id"], f["fixed_ip_address"]) for f in addresses if f.get("port_id")}
    targets = _targets(list(ports.values()), names)
    return render_template(
        "network_floating_ips.html",
        addresses=addresses,
        ports=ports,
        servers=names,
        externals=externals,
        network_names={n["id"]: n["name"] for n in externals},
        targets=[t for t in targets if (t["port_id"], t["ip"]) not in used],
        **page_args(),
    )


def _path(floating_ip_id: str = "") -> str:
    return f"{NETWORK}/floatingips{'/' + floating_ip_id if floating_ip_id else ''}"


@bp.post("/floating-ips")
def allocate() -> WerkzeugResponse:
    def call() -> None:
        network_id = text(request.form, "network_id")
        if not network_id:
            raise ApiError(400, "Pick an external network to take the address from.")
        body = {"floatingip": {"floating_network_id": network_id}}
        g.api.json("POST", _path(), json=body)

    return attempt(call, "network.floating_ips")


@bp.post("/floating-ips/<floating_ip_id>/associate")
def associate(floating_ip_id: str) -> WerkzeugResponse:
    """Point the address at the chosen fixed address of a server's port."""

    def call() -> None:
        port_id, _, ip = text(request.form, "target").partition("|")
        if not port_id:
            raise ApiError(400, "Pick a server's address for the floating IP to reach.")
        body: dict[str, Any] = {"port_id": port_id}
        if ip:
            body["fixed_ip_address"] = ip
        g.api.json("PUT", _path(floating_ip_id), json={"floatingip": body})

    return attempt(call, "network.floating_ips")


@bp.post("/floating-ips/<floating_ip_id>/disassociate")
def disassociate(floating_ip_id: str) -> WerkzeugResponse:
    body = {"floatingip": {"port_id": None}}
    return attempt(
        lambda: g.api.json("PUT", _path(floating_ip_id), json=body),
        "network.floating_ips",
        (401, 404),
    )


@bp.post("/floating-ips/<floating_ip_id>/release")
def release(floating_ip_id: str) -> WerkzeugResponse:
    return attempt(
        lambda: g.api.json("DELETE", _path(floating_ip_id)), "network.floating_ips", (401, 404)
    )
