"""Numbers in queries and bodies are ASCII digits: "²" passes ``str.isdigit`` but not
``int()``, and was a 500 in a dozen places; each of them now answers 400."""

from __future__ import annotations

from typing import Any

from tests.support.neutron import Neutron
from tests.support.stack import Stack

SUPERSCRIPT_TWO = "\u00b2"


def _cases(stack: Stack, project: str, group: str) -> list[tuple[str, str, str, Any, str]]:
    """(user, method, path, body, microversion) of each place that reads a number."""
    two = SUPERSCRIPT_TWO
    server = {"name": "x", "flavorRef": "1", "imageRef": stack.image_id(), "networks": "none"}
    rule = {"security_group_id": group, "direction": "ingress"}
    return [
        ("admin", "GET", f"/audit/v1/events?limit={two}", None, ""),
        ("admin", "GET", f"/audit/v1/events?status={two}", None, ""),
        ("admin", "GET", f"/compute/v2.1/os-migrations?limit={two}", None, "compute 2.59"),
        ("alice", "GET", f"/compute/v2.1/flavors?limit={two}", None, ""),
        ("alice", "GET", f"/compute/v2.1/flavors?limit={'1' * 5000}", None, ""),
        ("alice", "GET", f"/networking/v2.0/networks?limit={two}", None, ""),
        ("alice", "GET", f"/image/v2/images?limit={two}", None, ""),
        ("alice", "POST", "/compute/v2.1/servers", {"server": {**server, "min_count": two}}, ""),
        (
            "alice",
            "POST",
            "/compute/v2.1/os-server-groups",
            {
                "server_group": {
                    "name": "g",
                    "policy": "anti-affinity",
                    "rules": {"max_server_per_host": two},
                }
            },
            "compute 2.64",
        ),  # fmt: skip
        (
            "admin",
            "PUT",
            f"/compute/v2.1/os-quota-sets/{project}",
            {"quota_set": {"instances": two}},
            "",
        ),  # fmt: skip
        (
            "admin",
            "PUT",
            f"/compute/v2.1/os-quota-sets/{project}",
            {"quota_set": {"instances": "--5"}},
            "",
        ),  # fmt: skip
        (
            "alice",
            "POST",
            "/networking/v2.0/security-group-rules",
            {"security_group_rule": {**rule, "protocol": two}},
            "",
        ),  # fmt: skip
        (
            "alice",
            "POST",
            "/networking/v2.0/security-group-rules",
            {"security_group_rule": {**rule, "protocol": "tcp", "port_range_min": two}},
            "",
        ),  # fmt: skip
        ("alice", "POST", f"/volume/v3/{project}/volumes", {"volume": {"size": two}}, ""),
    ]


def test_a_number_that_is_not_ascii_digits_is_400(stack: Stack) -> None:
    alice = Neutron(stack, "alice")
    group = alice.make("security_group", name="g")["id"]
    tokens = {"alice": alice.h["X-Auth-Token"], "admin": stack.token("admin")}
    wrong = []
    for user, method, path, body, version in _cases(stack, alice.project_id, group):
        headers = {"X-Auth-Token": tokens[user]}
        if version:
            headers["OpenStack-API-Version"] = version
        response = stack.client.open(path, method=method, json=body, headers=headers)
        if response.status_code != 400:
            wrong.append(f"{method} {path[:80]}: {response.status_code}")
    assert wrong == []


def test_a_huge_migration_limit_is_the_most_a_page_holds(stack: Stack) -> None:
    """A limit past what the database takes (a 64-bit integer) lists a full page."""
    headers = {"X-Auth-Token": stack.token("admin"), "OpenStack-API-Version": "compute 2.59"}
    response = stack.client.get(f"/compute/v2.1/os-migrations?limit={'9' * 30}", headers=headers)
    assert response.status_code == 200 and response.json == {"migrations": []}
