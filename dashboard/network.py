"""Networks, subnets, routers, floating IPs, security groups and their rules, and the
project's network topology, through the networking API (Neutron v2.0).

This module holds the blueprint, the reads every page shares, and the networks and their
subnets; routers, floating IPs, security groups and the topology live in the
``network_*`` modules beside it, which add their routes to the same blueprint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, render_template, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError, refusal
from dashboard.pages import go

bp = Blueprint("network", __name__)
NETWORK = "/networking/v2.0"
COMPUTE = "/compute/v2.1"
#: Statuses that change by themselves: a list showing one polls until none is left.
MOVING = frozenset({"BUILD", "DELETING", "PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE"})
ROUTER_INTERFACE = "network:router_interface"


# -- what every page of the area reads ---------------------------------------------------


def listed(collection: str, key: str | None = None, **filters: Any) -> list[dict[str, Any]]:
    """The items of a networking collection the user sees (``key``: its body's name)."""
    found: list[dict[str, Any]] = g.api.get(f"{NETWORK}/{collection}", **filters)[
        key or collection.replace("-", "_")
    ]
    return found


def shown(collection: str, key: str, item_id: str) -> dict[str, Any]:
    """One item; a 404 (another project's, or gone) propagates as the app's 404 page."""
    found: dict[str, Any] = g.api.get(f"{NETWORK}/{collection}/{item_id}")[key]
    return found


def by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items in a stable order: by name, then id."""
    return sorted(items, key=lambda i: (i.get("name") or "", i["id"]))


def mine(item: dict[str, Any]) -> bool:
    """Whether the item belongs to the signed-in project (only then may it be deleted)."""
    return bool(item.get("project_id") == g.session.project_id)


def project_networks() -> list[dict[str, Any]]:
    """The networks the project uses: its own, and shared or external ones (an admin's
    list would otherwise hold every project's)."""
    found = listed("networks")
    return by_name([n for n in found if mine(n) or n["shared"] or n["router:external"]])


def subnets_by_id() -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in listed("subnets")}


def server_names() -> dict[str, str]:
    """The project's servers' names by id, from the compute API."""
    servers = g.api.get(f"{COMPUTE}/servers/detail")["servers"]
    return {s["id"]: s["name"] for s in servers}


def project_routers() -> list[dict[str, Any]]:
    """The project's routers (an admin's list would otherwise hold every project's)."""
    return by_name(listed("routers", project_id=g.session.project_id))


def is_server_port(port: dict[str, Any]) -> bool:
    return str(port.get("device_owner") or "").startswith("compute:")


# -- answering a form --------------------------------------------------------------------


def back(endpoint: str, error: str | None = None, **values: Any) -> WerkzeugResponse:
    """To the page that sent the form, with the refusal to show next to it, if any."""
    return go(endpoint, error=error, **values)


def attempt(
    call: Callable[[], Any], endpoint: str, passing: tuple[int, ...] = (401,), **values: Any
) -> WerkzeugResponse:
    """Make the API call, then go back to ``endpoint``; a refusal is shown there (a status
    in ``passing`` is raised for the app's error page instead)."""
    try:
        call()
    except ApiError as exc:
        return back(endpoint, refusal(exc, passing), **values)
    return back(endpoint, **values)


def page_args() -> dict[str, Any]:
    """What every page of the area shows from its query: a message and a refusal."""
    return {"message": request.args.get("message"), "error": request.args.get("error")}


def text(form: MultiDict[str, str], key: str) -> str:
    return form.get(key, "").strip()


# -- networks and subnets ----------------------------------------------------------------


def network_rows() -> tuple[list[dict[str, Any]], bool]:
    """The networks with their subnets filled in, and whether any status moves."""
    subnets = subnets_by_id()
    rows = [
        {**n, "subnet_rows": [subnets[s] for s in n["subnets"] if s in subnets]}
        for n in project_networks()
    ]
    return rows, any(n["status"] in MOVING for n in rows)


@bp.get("/networks")
def networks() -> str:
    rows, polling = network_rows()
    return render_template("network_networks.html", networks=rows, polling=polling, **page_args())


@bp.get("/networks/rows")
def network_rows_partial() -> str:
    """The table's body alone, for htmx to swap in while a status moves."""
    rows, polling = network_rows()
    return render_template("_network_rows.html", networks=rows, polling=polling)


def subnet_body(form: MultiDict[str, str], network_id: str) -> dict[str, Any]:
    """A subnet request from the form's subnet fields: no gateway, the one typed, or
    (left empty) the first address, which the API picks."""
    body: dict[str, Any] = {
        "network_id": network_id,
        "ip_version": 4,
        "cidr": text(form, "cidr"),
        "name": text(form, "subnet_name"),
        "enable_dhcp": bool(form.get("dhcp")),
    }
    if form.get("no_gateway"):
        body["gateway_ip"] = None
    elif text(form, "gateway_ip"):
        body["gateway_ip"] = text(form, "gateway_ip")
    return body


def _network_body(form: MultiDict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": text(form, "name")}
    for flag, key in (("shared", "shared"), ("external", "router:external")):
        if form.get(flag):  # only an admin is offered (and allowed) these
            body[key] = True
    return body


@bp.post("/networks")
def create_network() -> WerkzeugResponse:
    """Create a network, and its first subnet if a CIDR is given; if the subnet is refused,
    the network is deleted again, so that a refusal leaves nothing behind."""
    form = request.form
    try:
        if not text(form, "name"):
            raise ApiError(400, "Give the network a name.")
        made = g.api.json("POST", f"{NETWORK}/networks", json={"network": _network_body(form)})
    except ApiError as exc:
        return back("network.networks", refusal(exc))
    network_id = made["network"]["id"]
    if text(form, "cidr"):
        try:
            body = {"subnet": subnet_body(form, network_id)}
            g.api.json("POST", f"{NETWORK}/subnets", json=body)
        except ApiError as exc:
            said = refusal(exc)
            g.api.json("DELETE", f"{NETWORK}/networks/{network_id}")
            return back("network.networks", f"{said} The network was not kept.")
    return back("network.network", network_id=network_id)


@bp.get("/networks/<network_id>")
def network(network_id: str) -> str:
    found = shown("networks", "network", network_id)
    ports = listed("ports", network_id=network_id)
    return render_template(
        "network_network.html",
        network=found,
        subnets=by_name(listed("subnets", network_id=network_id)),
        ports=sorted(ports, key=lambda p: (p["device_owner"], p["id"])),
        servers=server_names(),
        routers={r["id"]: r["name"] for r in project_routers()},
        **page_args(),
    )


@bp.post("/networks/<network_id>/delete")
def delete_network(network_id: str) -> WerkzeugResponse:
    return attempt(
        lambda: g.api.json("DELETE", f"{NETWORK}/networks/{network_id}"),
        "network.networks",
        (401, 404),
    )


@bp.post("/networks/<network_id>/subnets")
def create_subnet(network_id: str) -> WerkzeugResponse:
    def call() -> None:
        body = subnet_body(request.form, network_id)
        if not body["cidr"]:
            raise ApiError(400, "Give the subnet a CIDR, such as 10.0.1.0/24.")
        g.api.json("POST", f"{NETWORK}/subnets", json={"subnet": body})

    return attempt(call, "network.network", (401, 404), network_id=network_id)


@bp.post("/networks/<network_id>/subnets/<subnet_id>/delete")
def delete_subnet(network_id: str, subnet_id: str) -> WerkzeugResponse:
    def call() -> None:
        if shown("subnets", "subnet", subnet_id)["network_id"] != network_id:
            raise ApiError(404, f"Subnet {subnet_id} is not on network {network_id}.")
        g.api.json("DELETE", f"{NETWORK}/subnets/{subnet_id}")

    return attempt(call, "network.network", (401, 404), network_id=network_id)


from dashboard import (  # noqa: E402,F401  (their routes register on bp)
    network_floating,
    network_groups,
    network_routers,
    network_topology,
)
