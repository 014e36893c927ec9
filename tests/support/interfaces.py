"""A server on a network and its os-interface calls, for the attach and detach tests."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Stack
from workflows.common import server_workflow_id


class Nova:
    """Alice's server on ``net``, and her os-interface calls."""

    def __init__(self, stack: Stack, net: dict[str, Any]) -> None:
        self.stack, self.net = stack, net
        self.h = {"X-Auth-Token": stack.token("alice")}
        body = {
            "server": {
                "name": "vm",
                "flavorRef": "1",
                "imageRef": stack.image_id(),
                "networks": [{"uuid": net["id"]}],
            }
        }
        r = stack.client.post("/compute/v2.1/servers", json=body, headers=self.h)
        assert r.status_code == 202, r.json
        self.server_id = str(r.json["server"]["id"])
        stack.finish(server_workflow_id(self.server_id, "boot"))
        self.url = f"/compute/v2.1/servers/{self.server_id}/os-interface"

    def attach(self, user: str = "alice", **spec: Any) -> Any:
        h = {"X-Auth-Token": self.stack.token(user)}
        return self.stack.client.post(self.url, json={"interfaceAttachment": spec}, headers=h)

    def detach(self, port_id: str, user: str = "alice") -> Any:
        h = {"X-Auth-Token": self.stack.token(user)}
        r = self.stack.client.delete(f"{self.url}/{port_id}", headers=h)
        if r.status_code == 202:
            self.stack.finish(server_workflow_id(self.server_id, f"detach-interface-{port_id}"))
        return r

    def macs(self) -> list[str]:
        return [n.mac for n in self.stack.hypervisor.domains[f"nimbus-{self.server_id}"].nics]

    def action(self, body: dict[str, Any], status: str) -> None:
        url = f"/compute/v2.1/servers/{self.server_id}/action"
        assert self.stack.client.post(url, json=body, headers=self.h).status_code == 202
        self.stack.wait_server(self.server_id, lambda r: r is not None and r.status == status)
