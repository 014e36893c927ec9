"""The filter scheduler's decisions (``nimbus.scheduler``), host by host."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nimbus.scheduler import (
    AFFINITY,
    ANTI_AFFINITY,
    SOFT_AFFINITY,
    SOFT_ANTI_AFFINITY,
    HostState,
    Request,
    place,
)


def host(name: str, **kw: object) -> HostState:
    values: dict[str, object] = {
        "vcpus": 4,
        "memory_mib": 8192,
        "cpu_allocation_ratio": 1.0,
        "ram_allocation_ratio": 1.0,
        "reserved_memory_mib": 0,
        "vcpus_used": 0,
        "memory_used_mib": 0,
        "zone": "nova",
        "alive": True,
    }
    values.update(kw)
    return HostState(name=name, **values)  # type: ignore[arg-type]


def test_the_host_with_most_memory_free_wins() -> None:
    hosts = [host("a", memory_used_mib=4096), host("b", memory_used_mib=1024), host("c")]
    decision = place(Request(1, 512), hosts)
    assert decision.host == "c" and decision.fits == ["c", "b", "a"]
    assert decision.refused == {}


def test_ties_go_to_the_first_name_so_a_decision_repeats() -> None:
    assert place(Request(1, 512), [host("b"), host("a")]).host == "a"


def test_allocation_ratios_and_reserved_memory_bound_what_fits() -> None:
    overcommitted = host("a", vcpus=2, cpu_allocation_ratio=4.0, vcpus_used=7)
    assert place(Request(1, 512), [overcommitted]).host == "a"
    assert place(Request(2, 512), [overcommitted]).refused == {"a": "1 vCPUs free, 2 wanted"}
    tight = host("b", memory_mib=4096, ram_allocation_ratio=1.5, reserved_memory_mib=512)
    assert place(Request(1, 5632), [tight]).host == "b"
    assert place(Request(1, 5633), [tight]).refused == {"b": "5632 MiB of memory free, 5633 wanted"}


def test_down_and_disabled_hosts_and_other_zones_are_refused_with_their_reason() -> None:
    hosts = [
        host("a", alive=False),
        host("b", enabled=False),
        host("c", zone="az2"),
        host("d"),
    ]
    decision = place(Request(1, 512, zone="nova"), hosts)
    assert decision.host == "d"
    assert decision.refused == {
        "a": "its worker is down",
        "b": "disabled",
        "c": "in zone az2, not nova",
    }
    assert place(Request(1, 512, zone="az2"), hosts).host == "c"


def test_no_host_fits_and_the_summary_says_why_each_was_refused() -> None:
    decision = place(Request(8, 512), [host("a"), host("b", alive=False)])
    assert decision.host is None and decision.fits == []
    assert decision.summary() == (
        "chose none of 0 fitting; refused a: 4 vCPUs free, 8 wanted; b: its worker is down"
    )


def test_a_requested_host_is_the_only_one_considered() -> None:
    decision = place(Request(1, 512, host="b"), [host("a"), host("b", memory_used_mib=7000)])
    assert decision.host == "b" and decision.refused == {"a": "not the requested host b"}


def test_an_affinity_group_follows_its_first_member() -> None:
    empty = [host("a"), host("b", memory_used_mib=100)]
    assert place(Request(1, 512, group_policy=AFFINITY), empty).host == "a"
    placed = [host("a"), host("b", memory_used_mib=100, group_members=1)]
    decision = place(Request(1, 512, group_policy=AFFINITY, group_size=1), placed)
    assert decision.host == "b"
    assert decision.refused == {"a": "holds none of its affinity group's servers"}


@pytest.mark.parametrize("per_host", [1, 2])
def test_an_anti_affinity_group_keeps_at_most_its_rule_of_members_per_host(
    per_host: int,
) -> None:
    hosts = [host("a", group_members=1), host("b", group_members=2, memory_used_mib=9)]
    request = Request(1, 512, group_policy=ANTI_AFFINITY, max_server_per_host=per_host)
    decision = place(request, hosts)
    if per_host == 1:
        assert decision.host is None
    else:
        assert decision.host == "a" and set(decision.refused) == {"b"}


def test_soft_policies_prefer_but_never_refuse() -> None:
    hosts = [host("a", group_members=2), host("b", group_members=0, memory_used_mib=4000)]
    assert place(Request(1, 512, group_policy=SOFT_AFFINITY, group_size=2), hosts).host == "a"
    decision = place(Request(1, 512, group_policy=SOFT_ANTI_AFFINITY, group_size=2), hosts)
    assert decision.host == "b" and decision.fits == ["b", "a"]
    full = [replace(h, group_members=5) for h in hosts]
    assert place(Request(1, 512, group_policy=SOFT_ANTI_AFFINITY), full).host == "a"
