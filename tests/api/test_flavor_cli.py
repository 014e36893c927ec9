"""The unmodified ``openstack`` CLI (at the highest version both sides speak, 2.79)
manages flavors and pages key pairs against the in-process API."""

from __future__ import annotations

import pytest

from tests.support.cli_local import cli, ok, openstack, served, settings
from tests.support.stack import Stack

pytestmark = pytest.mark.one_database

__all__ = ["served", "settings"]


def test_flavor_create_set_unset_and_delete_with_the_cli(served: Stack) -> None:
    s = served
    made = cli(
        s,
        "admin",
        "flavor create --ram 256 --disk 1 --vcpus 2 --description first"
        " --property hw:cpu_policy=shared --private --project demo cli-f",
    )
    assert (made["ram"], made["vcpus"], made["description"]) == (256, 2, "first")
    assert made["os-flavor-access:is_public"] is False
    ok(s, "admin", "flavor set --description second --property extra=1 cli-f")
    shown = cli(s, "admin", "flavor show cli-f")
    assert shown["description"] == "second"
    assert shown["properties"] == {"hw:cpu_policy": "shared", "extra": "1"}
    demo = cli(s, "admin", "project show demo")["id"]
    assert shown["access_project_ids"] == [demo]
    assert cli(s, "alice", "flavor show cli-f")["id"] == made["id"]  # shared with demo
    ok(s, "admin", "flavor unset --property extra cli-f")
    assert cli(s, "admin", "flavor show cli-f")["properties"] == {"hw:cpu_policy": "shared"}
    refused = openstack(s, "alice", "flavor delete cli-f")
    assert refused.returncode != 0
    ok(s, "admin", "flavor delete cli-f")
    assert "cli-f" not in [f["Name"] for f in cli(s, "admin", "flavor list --all")]


def test_keypair_list_follows_the_next_links_page_by_page(served: Stack) -> None:
    """openstacksdk caps key pairs at 2.10 unless the version is pinned, as with Nova."""
    s = served
    for name in ("k3", "k1", "k2"):
        ok(s, "alice", f"keypair create --private-key /dev/null {name}")
    v = "--os-compute-api-version 2.35"
    assert [k["Name"] for k in cli(s, "alice", f"{v} keypair list --limit 1")] == ["k1", "k2", "k3"]
    page = cli(s, "alice", f"{v} keypair list --limit 1 --marker k1")
    assert [k["Name"] for k in page] == ["k2", "k3"]
