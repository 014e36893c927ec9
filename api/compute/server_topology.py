"""Nova's server topology (2.78, ``GET /servers/{id}/topology``): the guest's NUMA nodes.

A Nimbus guest's domain defines neither NUMA cells, nor a CPU topology, nor pinning, nor
huge pages, so the guest sees one NUMA node holding every vCPU and all of its memory, one
thread per core (no siblings) and the default page size (``pagesize_kb`` null). Its
vCPUs float over the host and its memory is bound to no host node, so the admin-only
``host_node`` and ``cpu_pinning`` would be made up: they are left out, which Nova's
schema allows. Sizes come from the server's flavor (its own copy once the flavor was
deleted), which is what its domain is defined from.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from api.compute import bp
from api.compute.flavors import flavor_of_server
from api.context import current
from api.lookup import load_owned
from api.microversion import at_least
from api.policy import authorize
from nimbus.db import Flavor, Server
from nimbus.errors import NotFound


def topology(flavor: Flavor) -> dict[str, Any]:
    """One NUMA node with the flavor's vCPUs and memory."""
    node = {"vcpu_set": list(range(flavor.vcpus)), "siblings": [], "memory_mb": flavor.ram}
    return {"nodes": [node], "pagesize_kb": None}


@bp.get("/v2.1/servers/<server_id>/topology")
def show_server_topology(server_id: str) -> Response:
    if not at_least("2.78"):
        raise NotFound("The resource could not be found.")
    ctx = current()
    authorize(ctx, "compute:servers:show")
    server = load_owned(Server, server_id, ctx, "compute:servers:all_projects", "Instance")
    return jsonify(topology(flavor_of_server(server)))
