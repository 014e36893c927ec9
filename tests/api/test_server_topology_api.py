"""Server topology (2.78) over the fake drivers: one NUMA node with the guest's vCPUs
and memory, as its domain is defined; no made-up host fields; 404 below 2.78."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _h(stack: Stack, user: str = "alice", version: str = "2.78") -> dict[str, str]:
    return {"X-Auth-Token": stack.token(user), "OpenStack-API-Version": f"compute {version}"}


def _server(stack: Stack, flavor: str) -> str:
    body = {"server": {"name": "vm", "flavorRef": flavor, "imageRef": stack.image_id()}}
    r = stack.client.post("/compute/v2.1/servers", json=body, headers=_h(stack, version="2.1"))
    assert r.status_code == 202, r.json
    server_id = str(r.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _topology(stack: Stack, server_id: str, user: str = "alice", version: str = "2.78") -> Any:
    url = f"/compute/v2.1/servers/{server_id}/topology"
    return stack.client.get(url, headers=_h(stack, user, version))


def test_one_node_with_the_domains_vcpus_and_memory(stack: Stack) -> None:
    server_id = _server(stack, "3")
    spec = stack.hypervisor.domains[f"nimbus-{server_id}"].spec
    wanted = {
        "nodes": [
            {"vcpu_set": list(range(spec.vcpus)), "siblings": [], "memory_mb": spec.memory_mib}
        ],
        "pagesize_kb": None,
    }
    for user in ("alice", "rita", "admin"):
        r = _topology(stack, server_id, user)
        assert r.status_code == 200 and r.json == wanted, (user, r.json)
    assert (spec.vcpus, spec.memory_mib) == (2, 4096)


def test_below_2_78_another_project_or_an_unknown_server_is_404(stack: Stack) -> None:
    server_id = _server(stack, "1")
    assert _topology(stack, server_id, version="2.77").status_code == 404
    assert _topology(stack, server_id, "bob").status_code == 404
    assert _topology(stack, "00000000-0000-0000-0000-000000000000").status_code == 404
    assert (
        stack.client.delete(f"/compute/v2.1/servers/{server_id}", headers=_h(stack)).status_code
        == 204
    )
    stack.finish(server_workflow_id(server_id, "delete"))
    assert _topology(stack, server_id).status_code == 404


def test_a_deleted_flavor_still_gives_the_topology(stack: Stack) -> None:
    flavor = {"flavor": {"name": "tmp", "id": "tmp", "ram": 768, "vcpus": 3, "disk": 1}}
    made = stack.client.post("/compute/v2.1/flavors", json=flavor, headers=_h(stack, "admin"))
    assert made.status_code == 200
    server_id = _server(stack, "tmp")
    assert (
        stack.client.delete("/compute/v2.1/flavors/tmp", headers=_h(stack, "admin")).status_code
        == 202
    )
    node = _topology(stack, server_id).json["nodes"][0]
    assert (node["vcpu_set"], node["memory_mb"]) == ([0, 1, 2], 768)
