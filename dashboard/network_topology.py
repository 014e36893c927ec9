"""The project's network topology as a picture drawn on the server: inline SVG with
external networks on top, routers below them, the project's networks below the routers
(one column each) and each network's servers stacked under it. Lines join a router to
its gateway's network and to each network it has an interface on, and a server to its
network. Every box links to its page.

The layout is a pure function of what the APIs return, placed by order (names, then
ids), so that the same cloud always draws the same picture."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from flask import g, render_template

from dashboard.network import (
    ROUTER_INTERFACE,
    bp,
    is_server_port,
    listed,
    project_networks,
    project_routers,
    server_names,
    subnets_by_id,
)

#: Horizontal distance between the columns, and the boxes' sizes, in SVG units.
COLUMN = 200
WIDTH = 176
HEIGHT = 46
SERVER_HEIGHT = 34
SERVER_PITCH = SERVER_HEIGHT + 14
MARGIN = 12
#: Where each row's boxes begin.
ROW_Y = {"external": MARGIN, "router": MARGIN + 110, "network": MARGIN + 220}
SERVERS_Y = ROW_Y["network"] + HEIGHT + 30
#: Characters a label keeps before it is cut (its whole text is in the box's tooltip).
LABEL_CHARS = 22


class Item(NamedTuple):
    """Something to draw: its id, name and a second line (CIDRs, addresses)."""

    id: str
    name: str
    detail: str = ""


@dataclass
class Topology:
    """What the picture shows, as read from the APIs."""

    externals: list[Item] = field(default_factory=list)
    routers: list[Item] = field(default_factory=list)
    networks: list[Item] = field(default_factory=list)
    #: (router id, network id) of each router's gateway and of each of its interfaces.
    gateways: list[tuple[str, str]] = field(default_factory=list)
    interfaces: list[tuple[str, str]] = field(default_factory=list)
    #: The servers on each network, by network id.
    servers: dict[str, list[Item]] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    """A box: what it stands for (``kind``), where it is, and what it says."""

    kind: str
    id: str
    x: int
    y: int
    width: int
    height: int
    label: str
    detail: str
    title: str
    #: The network a server box hangs under.
    network_id: str = ""

    @property
    def center(self) -> int:
        return self.x + self.width // 2


@dataclass(frozen=True)
class Edge:
    """A line from ``source`` to ``target`` (ids), of a ``kind``: gateway, interface or
    attachment."""

    kind: str
    source: str
    target: str
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]


def clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row(kind: str, items: Sequence[Item], columns: int) -> list[Node]:
    """A row of boxes, centred under the widest row."""
    offset = MARGIN + (columns - len(items)) * COLUMN // 2 + (COLUMN - WIDTH) // 2
    return [
        Node(
            kind=kind,
            id=item.id,
            x=offset + n * COLUMN,
            y=ROW_Y[kind],
            width=WIDTH,
            height=HEIGHT,
            label=clip(item.name or item.id),
            detail=clip(item.detail, LABEL_CHARS + 4),
            title=item.name or item.id,
        )
        for n, item in enumerate(items)
    ]


def _servers(network: Node, servers: Sequence[Item]) -> list[Node]:
    """The network's servers, stacked in its column."""
    return [
        Node(
            kind="server",
            id=server.id,
            x=network.x + 12,
            y=SERVERS_Y + n * SERVER_PITCH,
            width=WIDTH - 24,
            height=SERVER_HEIGHT,
            label=clip(server.name, LABEL_CHARS - 3),
            detail=clip(server.detail, LABEL_CHARS),
            title=server.name,
            network_id=network.id,
        )
        for n, server in enumerate(servers)
    ]


def _joins(
    kind: str,
    pairs: Sequence[tuple[str, str]],
    routers: dict[str, Node],
    networks: dict[str, Node],
    above: bool,
) -> list[Edge]:
    """A line for each (router, network) pair drawn: up to the network of a router's
    gateway (``above``), or down to the network of one of its interfaces."""
    edges = []
    for router_id, network_id in pairs:
        r, n = routers.get(router_id), networks.get(network_id)
        if r is None or n is None:
            continue
        if above:
            edges.append(Edge(kind, router_id, network_id, r.center, r.y, n.center, n.y + n.height))
        else:
            edges.append(Edge(kind, router_id, network_id, r.center, r.y + r.height, n.center, n.y))
    return edges


def _attachment(server: Node, network: Node) -> Edge:
    below = network.y + network.height
    return Edge("attachment", server.id, network.id, server.center, server.y, network.center, below)


def layout(topology: Topology) -> Picture:
    """Place every box and line of the picture."""
    t = topology
    columns = max(1, len(t.externals), len(t.routers), len(t.networks))
    externals = _row("external", t.externals, columns)
    routers = {n.id: n for n in _row("router", t.routers, columns)}
    networks = {n.id: n for n in _row("network", t.networks, columns)}
    servers = [s for n in networks.values() for s in _servers(n, t.servers.get(n.id, []))]
    edges = [
        *_joins("gateway", t.gateways, routers, {n.id: n for n in externals}, above=True),
        *_joins("interface", t.interfaces, routers, networks, above=False),
        *(_attachment(s, networks[s.network_id]) for s in servers),
    ]
    bottom = max([s.y + s.height for s in servers], default=ROW_Y["network"] + HEIGHT)
    return Picture(
        width=2 * MARGIN + columns * COLUMN,
        height=bottom + MARGIN,
        nodes=[*externals, *routers.values(), *networks.values(), *servers],
        edges=edges,
    )


# -- reading the topology from the APIs --------------------------------------------------


def _cidrs(network: dict[str, Any], subnets: dict[str, dict[str, Any]]) -> str:
    return ", ".join(subnets[s]["cidr"] for s in network["subnets"] if s in subnets)


def _gateway_ips(router: dict[str, Any]) -> str:
    gateway = router.get("external_gateway_info") or {}
    return ", ".join(ip["ip_address"] for ip in gateway.get("external_fixed_ips", []))


def _servers_by_network(
    ports: list[dict[str, Any]], names: dict[str, str], networks: set[str]
) -> dict[str, list[Item]]:
    """The project's servers on each network (a server with two ports there, once)."""
    found: dict[str, dict[str, list[str]]] = {}
    for port in ports:
        if is_server_port(port) and port["device_id"] in names and port["network_id"] in networks:
            ips = found.setdefault(port["network_id"], {}).setdefault(port["device_id"], [])
            ips.extend(ip["ip_address"] for ip in port["fixed_ips"])
    return {
        network_id: sorted(
            (Item(sid, names[sid], ", ".join(sorted(ips))) for sid, ips in servers.items()),
            key=lambda i: (i.name, i.id),
        )
        for network_id, servers in found.items()
    }


def read_topology() -> Topology:
    """The project's external networks, routers, networks and servers, and how they join."""
    subnets = subnets_by_id()
    networks = project_networks()
    routers = project_routers()
    internal = [n for n in networks if not n["router:external"]]
    ports = listed("ports")
    gateways = [
        (r["id"], r["external_gateway_info"]["network_id"])
        for r in routers
        if r.get("external_gateway_info")
    ]
    router_ids = {r["id"] for r in routers}
    interfaces = sorted(
        {
            (p["device_id"], p["network_id"])
            for p in ports
            if p["device_owner"] == ROUTER_INTERFACE and p["device_id"] in router_ids
        }
    )
    externals = [n for n in networks if n["router:external"]]
    return Topology(
        externals=[Item(n["id"], n["name"], _cidrs(n, subnets) or "external") for n in externals],
        routers=[Item(r["id"], r["name"], _gateway_ips(r)) for r in routers],
        networks=[Item(n["id"], n["name"], _cidrs(n, subnets)) for n in internal],
        gateways=gateways,
        interfaces=interfaces,
        servers=_servers_by_network(ports, server_names(), {n["id"] for n in internal}),
    )


@bp.get("/topology")
def topology() -> str:
    picture = layout(read_topology())
    return render_template("network_topology.html", picture=picture, project=g.session.project_name)
