from __future__ import annotations

import pytest

from api.context import RequestContext
from api.errors import Forbidden
from api.policy import RULES, authorize, effective_roles


def _ctx(*roles: str) -> RequestContext:
    return RequestContext("u", "user", "p", "project", list(roles))


def test_roles_imply_weaker_ones() -> None:
    assert effective_roles(["admin"]) == {"admin", "member", "reader"}
    assert effective_roles(["reader"]) == {"reader"}


def test_reader_may_look_but_not_change() -> None:
    authorize(_ctx("reader"), "compute:servers:list")
    with pytest.raises(Forbidden):
        authorize(_ctx("reader"), "compute:servers:create")


def test_only_admin_sees_all_projects() -> None:
    with pytest.raises(Forbidden):
        authorize(_ctx("member"), "compute:servers:all_projects")
    authorize(_ctx("admin"), "compute:servers:all_projects")


def test_unknown_role_grants_nothing() -> None:
    with pytest.raises(Forbidden):
        authorize(_ctx("auditor"), "compute:servers:list")


def test_every_rule_names_a_known_role() -> None:
    assert set(RULES.values()) <= {"admin", "member", "reader", "anyone"}


def test_what_anyone_may_do_is_only_about_the_caller_itself() -> None:
    anyone = {action for action, role in RULES.items() if role == "anyone"}
    assert anyone and all(a.startswith("identity:") for a in anyone)
    authorize(_ctx(), "identity:auth:projects")  # an unscoped token: no role at all
    with pytest.raises(Forbidden):
        authorize(_ctx(), "identity:auth:catalog")


def test_networking_reads_for_readers_writes_for_members_flags_for_admins() -> None:
    authorize(_ctx("reader"), "network:ports:list")
    with pytest.raises(Forbidden):
        authorize(_ctx("reader"), "network:ports:create")
    authorize(_ctx("member"), "network:security_group_rules:create")
    with pytest.raises(Forbidden):
        authorize(_ctx("member"), "network:networks:external")
