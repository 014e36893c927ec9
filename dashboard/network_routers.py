"""Routers: list, a router's page with its interfaces, create (with an optional gateway on
an external network), add and remove an interface on a subnet, set and clear the
gateway, delete. Each is a call to the networking API as the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError, refusal
from dashboard.network import (
    MOVING,
    NETWORK,
    ROUTER_INTERFACE,
    attempt,
    back,
    bp,
    listed,
    mine,
    page_args,
    project_networks,
    project_routers,
    shown,
    subnets_by_id,
    text,
)


def interfaces(
    ports: list[dict[str, Any]], subnets: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """A router's interface ports, each with its subnet (when the project sees it)."""
    shown_ports = []
    for port in sorted(ports, key=lambda p: p["id"]):
        for ip in port["fixed_ips"]:
            subnet = subnets.get(ip["subnet_id"], {"id": ip["subnet_id"], "cidr": ""})
            shown_ports.append({"port": port, "ip": ip["ip_address"], "subnet": subnet})
    return shown_ports


def router_rows() -> tuple[list[dict[str, Any]], bool]:
    """The project's routers, each with its gateway's network and its interfaces, and
    whether any status moves."""
    subnets = subnets_by_id()
    networks = {n["id"]: n for n in project_networks()}
    ports = listed("ports", device_owner=ROUTER_INTERFACE, project_id=g.session.project_id)
    rows = []
    for router in project_routers():
        own = [p for p in ports if p["device_id"] == router["id"]]
        gateway = router.get("external_gateway_info") or {}
        rows.append(
            {
                **router,
                "gateway_network": networks.get(gateway.get("network_id", "")),
                "gateway_ips": [ip["ip_address"] for ip in gateway.get("external_fixed_ips", [])],
                "interface_rows": interfaces(own, subnets),
            }
        )
    return rows, any(r["status"] in MOVING for r in rows)


def external_networks() -> list[dict[str, Any]]:
    return [n for n in project_networks() if n["router:external"]]


@bp.get("/routers")
def routers() -> str:
    rows, polling = router_rows()
    return render_template(
        "network_routers.html",
        routers=rows,
        polling=polling,
        externals=external_networks(),
        **page_args(),
    )


@bp.get("/routers/rows")
def router_rows_partial() -> str:
    """The table's body alone, for htmx to swap in while a status moves."""
    rows, polling = router_rows()
    return render_template("_network_router_rows.html", routers=rows, polling=polling)


@bp.post("/routers")
def create_router() -> WerkzeugResponse:
    body: dict[str, Any] = {"name": text(request.form, "name")}
    if text(request.form, "network_id"):
        body["external_gateway_info"] = {"network_id": text(request.form, "network_id")}
    try:
        if not body["name"]:
            raise ApiError(400, "Give the router a name.")
        made = g.api.json("POST", f"{NETWORK}/routers", json={"router": body})
    except ApiError as exc:
        return back("network.routers", refusal(exc))
    return back("network.router", router_id=made["router"]["id"])


def _attachable(router_id: str, subnets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The project's subnets on its internal networks, with a gateway address for the
    router to take, and not on this router already."""
    internal = {n["id"]: n for n in project_networks() if not n["router:external"]}
    taken = listed("ports", device_id=router_id, device_owner=ROUTER_INTERFACE)
    used = {ip["subnet_id"] for p in taken for ip in p["fixed_ips"]}
    choices = [
        {**s, "network_name": internal[s["network_id"]]["name"]}
        for s in subnets.values()
        if s["network_id"] in internal and s["gateway_ip"] and s["id"] not in used and mine(s)
    ]
    return sorted(choices, key=lambda s: (s["network_name"], s["name"], s["id"]))


@bp.get("/routers/<router_id>")
def router(router_id: str) -> str:
    found = shown("routers", "router", router_id)
    subnets = subnets_by_id()
    ports = listed("ports", device_id=router_id, device_owner=ROUTER_INTERFACE)
    gateway = found.get("external_gateway_info") or {}
    externals = external_networks()
    return render_template(
        "network_router.html",
        router=found,
        interfaces=interfaces(ports, subnets),
        networks={n["id"]: n for n in project_networks()},
        gateway=gateway,
        externals=externals,
        attachable=_attachable(router_id, subnets),
        **page_args(),
    )


def _router_path(router_id: str, action: str = "") -> str:
    return f"{NETWORK}/routers/{router_id}{'/' + action if action else ''}"


@bp.post("/routers/<router_id>/delete")
def delete_router(router_id: str) -> WerkzeugResponse:
    return attempt(
        lambda: g.api.json("DELETE", _router_path(router_id)), "network.routers", (401, 404)
    )


@bp.post("/routers/<router_id>/interfaces")
def add_interface(router_id: str) -> WerkzeugResponse:
    """Join a subnet to the router: it takes the subnet's gateway address."""

    def call() -> None:
        subnet_id = text(request.form, "subnet_id")
        if not subnet_id:
            raise ApiError(400, "Pick a subnet to join to the router.")
        body = {"subnet_id": subnet_id}
        g.api.json("PUT", _router_path(router_id, "add_router_interface"), json=body)

    return attempt(call, "network.router", router_id=router_id)


@bp.post("/routers/<router_id>/interfaces/<port_id>/remove")
def remove_interface(router_id: str, port_id: str) -> WerkzeugResponse:
    body = {"port_id": port_id}
    return attempt(
        lambda: g.api.json("PUT", _router_path(router_id, "remove_router_interface"), json=body),
        "network.router",
        router_id=router_id,
    )


@bp.post("/routers/<router_id>/gateway")
def set_gateway(router_id: str) -> WerkzeugResponse:
    """Give the router a gateway on the chosen external network (replacing its old one)."""

    def call() -> None:
        network_id = text(request.form, "network_id")
        if not network_id:
            raise ApiError(400, "Pick an external network for the gateway.")
        body = {"router": {"external_gateway_info": {"network_id": network_id}}}
        g.api.json("PUT", _router_path(router_id), json=body)

    return attempt(call, "network.router", router_id=router_id)


@bp.post("/routers/<router_id>/gateway/clear")
def clear_gateway(router_id: str) -> WerkzeugResponse:
    body: dict[str, Any] = {"router": {"external_gateway_info": {}}}
    return attempt(
        lambda: g.api.json("PUT", _router_path(router_id), json=body),
        "network.router",
        (401, 404),
        router_id=router_id,
    )
