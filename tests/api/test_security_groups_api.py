"""Security groups and rules, Neutron v2.0 shape, over the fake drivers."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from nimbus.db_network import SecurityGroup, SecurityGroupRule
from tests.support.neutron import Neutron, count, error_type
from tests.support.stack import Stack


@pytest.fixture
def alice(stack: Stack) -> Neutron:
    return Neutron(stack, "alice")


def _rules(group: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {
        (r["direction"], r["ethertype"], r["remote_group_id"])
        for r in group["security_group_rules"]
    }


def test_default_group_appears_on_first_list_with_its_rules(alice: Neutron) -> None:
    groups = alice.get("security-groups").json["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    assert _rules(default) == {
        ("ingress", "IPv4", default["id"]),
        ("ingress", "IPv6", default["id"]),
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
    }
    assert default["stateful"] is True and default["tenant_id"] == alice.project_id


def test_concurrent_first_lists_make_one_default_group(stack: Stack, alice: Neutron) -> None:
    threads = [threading.Thread(target=alice.get, args=("security-groups",)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(stack, SecurityGroup, SecurityGroupRule) == (1, 4)


def test_new_group_allows_egress_only(alice: Neutron) -> None:
    group = alice.make("security_group", name="web", description="d")
    assert _rules(group) == {("egress", "IPv4", None), ("egress", "IPv6", None)}
    assert alice.create("security_group", name="default").status_code == 409


def test_rule_create_duplicate_and_delete(alice: Neutron) -> None:
    group = alice.make("security_group", name="web")
    spec = {
        "security_group_id": group["id"],
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": 22,
        "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0",
    }
    rule = alice.make("security_group_rule", **spec)
    assert rule["ethertype"] == "IPv4" and rule["port_range_max"] == 22
    again = alice.create("security_group_rule", **{**spec, "protocol": "6"})
    assert again.status_code == 409 and error_type(again) == "SecurityGroupRuleExists"
    assert rule["id"] in again.json["NeutronError"]["message"]
    shown = alice.get(f"security-groups/{group['id']}").json["security_group"]
    assert rule["id"] in {r["id"] for r in shown["security_group_rules"]}
    assert alice.delete(f"security-group-rules/{rule['id']}").status_code == 204
    assert alice.get(f"security-group-rules/{rule['id']}").status_code == 404


@pytest.mark.parametrize(
    "attrs",
    [
        {"direction": "sideways"},
        {"ethertype": "IPv5"},
        {"protocol": "bogus"},
        {"protocol": 300},
        {"port_range_min": 22, "port_range_max": 22},
        {"protocol": "tcp", "port_range_min": 80, "port_range_max": 22},
        {"protocol": "tcp", "port_range_min": 0, "port_range_max": 22},
        {"protocol": "udp", "port_range_min": 70000},
        {"protocol": "icmp", "port_range_min": 300},
        {"remote_ip_prefix": "::/0"},
        {"remote_ip_prefix": "nope"},
        {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "x"},
    ],
)
def test_bad_rules_are_400_and_change_nothing(alice: Neutron, attrs: dict[str, Any]) -> None:
    group = alice.make("security_group", name="web")
    before = count(alice.stack, SecurityGroupRule)
    spec = {"security_group_id": group["id"], "direction": "ingress", **attrs}
    r = alice.create("security_group_rule", **spec)
    assert r.status_code == 400, r.json
    assert count(alice.stack, SecurityGroupRule) == before


def test_remote_group_must_be_visible(stack: Stack, alice: Neutron) -> None:
    bob = Neutron(stack, "bob")
    theirs = bob.make("security_group", name="theirs")
    mine = alice.make("security_group", name="mine")
    spec = {
        "security_group_id": mine["id"],
        "direction": "ingress",
        "remote_group_id": theirs["id"],
    }
    r = alice.create("security_group_rule", **spec)
    assert r.status_code == 404 and error_type(r) == "SecurityGroupNotFound"
    assert alice.get(f"security-groups/{theirs['id']}").status_code == 404
    assert alice.delete(f"security-groups/{theirs['id']}").status_code == 404


def test_group_in_use_and_default_group_cannot_be_deleted(alice: Neutron) -> None:
    group = alice.make("security_group", name="web")
    network = alice.network()
    alice.subnet(network["id"])
    port = alice.port(network["id"], security_groups=[group["id"]])
    r = alice.delete(f"security-groups/{group['id']}")
    assert r.status_code == 409 and error_type(r) == "SecurityGroupInUse"
    default = alice.get("security-groups", name="default").json["security_groups"][0]
    r = alice.delete(f"security-groups/{default['id']}")
    assert r.status_code == 409 and error_type(r) == "SecurityGroupCannotRemoveDefault"
    assert alice.delete(f"ports/{port['id']}").status_code == 204
    assert alice.delete(f"security-groups/{group['id']}").status_code == 204
    assert alice.get(f"security-groups/{group['id']}").status_code == 404


def test_deleting_a_group_removes_rules_naming_it(alice: Neutron) -> None:
    target = alice.make("security_group", name="target")
    other = alice.make("security_group", name="other")
    alice.make(
        "security_group_rule",
        security_group_id=other["id"],
        direction="ingress",
        remote_group_id=target["id"],
    )
    assert alice.delete(f"security-groups/{target['id']}").status_code == 204
    rules = alice.get(f"security-groups/{other['id']}").json["security_group"]
    assert all(r["remote_group_id"] is None for r in rules["security_group_rules"])


def test_reader_may_list_but_not_add_rules(stack: Stack, alice: Neutron) -> None:
    rita = Neutron(stack, "rita")
    default = rita.get("security-groups").json["security_groups"][0]
    spec = {"security_group_id": default["id"], "direction": "ingress", "protocol": "icmp"}
    assert rita.create("security_group_rule", **spec).status_code == 403
    assert alice.create("security_group_rule", **spec).status_code == 201


def test_admin_lists_its_own_groups_unless_it_names_a_project(stack: Stack, alice: Neutron) -> None:
    admin = Neutron(stack, "admin")
    alice.get("security-groups")
    defaults = admin.get("security-groups", name="default").json["security_groups"]
    assert [g["project_id"] for g in defaults] == [admin.project_id]
    theirs = admin.get("security-groups", project_id=alice.project_id).json["security_groups"]
    assert [g["project_id"] for g in theirs] == [alice.project_id]
    assert len(admin.get("security-groups", all_projects="true").json["security_groups"]) == 2
    assert admin.get(f"security-groups/{theirs[0]['id']}").status_code == 200


def test_an_admin_naming_no_project_makes_no_default_group(stack: Stack) -> None:
    """Found by fuzzing: a list naming a project that does not exist (and then refused for
    its paging) left a default group for that name behind."""
    admin = Neutron(stack, "admin")
    admin.get("security-groups")  # the admin's own default group
    before = count(stack, SecurityGroup, SecurityGroupRule)
    assert admin.get("security-groups", tenant_id="no-such-project").status_code == 200
    assert admin.get("security-groups", project_id="nope", limit="x").status_code == 400
    assert count(stack, SecurityGroup, SecurityGroupRule) == before
