"""A small Neutron v2.0 client over the Flask test client, for the networking API tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.support.stack import Stack

BASE = "/networking/v2.0"


class Neutron:
    """Calls as one user; ``create`` and friends return the response."""

    def __init__(self, stack: Stack, user: str) -> None:
        self.stack = stack
        self.h = {"X-Auth-Token": stack.token(user)}
        self.project_id = str(stack.token_info(self.h["X-Auth-Token"])["project"]["id"])

    def get(self, path: str, **params: Any) -> Any:
        return self.stack.client.get(f"{BASE}/{path}", query_string=params, headers=self.h)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.stack.client.post(f"{BASE}/{path}", json=body, headers=self.h)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.stack.client.put(f"{BASE}/{path}", json=body, headers=self.h)

    def delete(self, path: str) -> Any:
        return self.stack.client.delete(f"{BASE}/{path}", headers=self.h)

    def create(self, kind: str, **attrs: Any) -> Any:
        return self.post(_collection(kind), {kind: attrs})

    def make(self, kind: str, **attrs: Any) -> dict[str, Any]:
        """Create, assert 201, and return the object."""
        r = self.create(kind, **attrs)
        assert r.status_code == 201, r.json
        return dict(r.json[kind])

    def network(self, name: str = "net", **attrs: Any) -> dict[str, Any]:
        return self.make("network", name=name, **attrs)

    def subnet(self, network_id: str, cidr: str = "10.0.0.0/24", **attrs: Any) -> dict[str, Any]:
        return self.make("subnet", network_id=network_id, cidr=cidr, ip_version=4, **attrs)

    def port(self, network_id: str, **attrs: Any) -> dict[str, Any]:
        return self.make("port", network_id=network_id, **attrs)


def _collection(kind: str) -> str:
    return {
        "security_group": "security-groups",
        "security_group_rule": "security-group-rules",
    }.get(kind, kind + "s")


def error_type(response: Any) -> str:
    return str(response.json["NeutronError"]["type"])


def count(stack: Stack, *models: Any) -> tuple[int, ...]:
    """How many rows each table holds."""
    with stack.db.session() as s:
        return tuple(int(s.scalar(select(func.count()).select_from(m)) or 0) for m in models)
