"""The crash matrix over fake drivers: the tour of the cloud (``tests.support.tour``) with
the worker dying at every step of every operation, once just before the step
(``tests.support.crash.CrashBefore``: the first attempt of each workflow type's activity
fails before doing anything) and once after its side effects committed
(``tests.support.twice.RunTwice``: every activity runs a second time right after the
first, as the retry after a worker died between doing a step and reporting it does).
Every operation must still end as it would have, and the cloud with nothing half-built:
no row outside a final state and no drift between the rows and what the fake host and
store hold (the reconciler's own comparison).

Nothing is listed by hand: the activities come from the ``activities`` package (every
``@activity.defn``) and the workflow types from the worker's registry, so a new activity
or workflow is either reached by the tour or named below (``NOT_REACHED``, ``ELSEWHERE``)
with the reason; the test fails otherwise. A workflow replayed by a new worker is what the
recorded histories' replay (``test_replay.py``) shows. Each run records its figures
(cases run, cases that ended consistent, orphans found), which the session's summary
prints. Each fake has contract tests against its real component, the idempotence of the
real drivers included; ``make crash-matrix`` adds the end-to-end campaign on them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nimbus.config import Settings
from tests.conftest import FAKE_CEPH
from tests.support.crash import CrashBefore
from tests.support.paas import paas_stack
from tests.support.stack import Stack
from tests.support.tour import assert_nothing_left, drift, run_tour
from tests.support.twice import RunTwice, every_activity
from workflows.registry import WORKFLOWS

#: Activities the scenario does not reach, and why each is left to other tests.
NOT_REACHED = {
    # Undo steps, run only when a step of their workflow fails:
    "unclaim_port": "a router interface whose plumbing failed gives the port back",
    "mark_image_queued": "an import that failed leaves the image queued for another upload",
    "set_floatingip_status": "a floating IP whose NAT failed is marked ERROR",
    "delete_rule_row": "a rule the port filters cannot take is removed again",
    "log": "a failed staging writes why into the app's log",
    "mark_failed": "a service whose create failed is marked FAILED",
    # Steps of workflow versions that only runs started before an upgrade still take:
    "plan_boot": "a boot started before place_and_bind (leases-beside-launch); replayed "
    "in test_replay.py, and its placement is place_bind_and_plan's own",
    "place_and_bind": "a boot started before place_bind_and_plan (boot-plans-with-"
    "placement); replayed in test_replay.py, and its work is place_bind_and_plan's own",
    # Moving a server needs a second host: test_moves.py runs each of these twice.
    **dict.fromkeys(
        (
            "claim_destination",
            "move_to_destination",
            "move_to_source",
            "server_ports",
            "finish",
            "fail",
        ),
        "a move between hosts, run twice in test_moves.py",
    ),
    **dict.fromkeys(
        ("hosts_to_check", "host_inventory", "store_inventory", "compare"),
        "the reconciler's pass, run twice in test_drift.py",
    ),
}


#: Reached or not depending on timing: a server deleted right after it shows ACTIVE cancels
#: its boot while the boot still runs its last step a second time, and the boot's cleanup
#: then records an error on a server being deleted, which changes nothing; the host
#: agent's network resync (SyncHostNetworks) runs when the new worker's first pass finds
#: the host's data plane behind, which it may or may not do before the test ends; an app
#: supervisor reads the router's counts (``stats``, read-only) every few ticks, which the
#: scenario's app may or may not live long enough to see.
SOMETIMES = {"mark_error", "plan_for_host", "network_state", "gone_from_host", "stats"}


@pytest.fixture
def runs() -> RunTwice:
    return RunTwice()


#: Workflow types the tour does not start, and the tests that crash them instead.
ELSEWHERE = {
    "MigrateServer": "a move between hosts: test_moves.py fails each step",
    "ConfirmMigration": "test_moves.py",
    "RevertMigration": "test_moves.py",
    "EvacuateServer": "test_moves.py",
    "ReconcileCloud": "the reconciler's pass: test_drift.py runs it twice",
}


#: One boundary in this many is crashed before its step (each costs a retry through the
#: server, about a second); ``make crash-matrix`` sets ``NIMBUS_CRASH_SAMPLE=1``: all.
SAMPLE = int(os.environ.get("NIMBUS_CRASH_SAMPLE", "8"))


@pytest.fixture
def crash() -> CrashBefore:
    return CrashBefore(SAMPLE)


@pytest.fixture
def stack(
    settings: Settings, image_file: Path, runs: RunTwice, crash: CrashBefore
) -> Iterator[Stack]:
    with paas_stack(settings, image_file, FAKE_CEPH, interceptors=[crash, runs]) as s:
        yield s


def test_the_worker_killed_at_every_step_leaves_nothing_half_built(
    stack: Stack,
    runs: RunTwice,
    crash: CrashBefore,
    tmp_path: Path,
    image_file: Path,
    record_property: Callable[[str, object], None],
) -> None:
    run_tour(stack, tmp_path, image_file)
    assert_nothing_left(stack)
    orphans = drift(stack).found
    after = {(w, a) for a, workflows in runs.workflows.items() for w in workflows}
    cases = len(crash.crashed) + len(after)
    types = {w for w, _ in crash.crashed | after} - {""}
    record_property(
        "campaign",
        f"crash matrix over fakes: {cases} cases run ({len(crash.crashed)} before a step, "
        f"one boundary in {SAMPLE}; {len(after)} after its side effect, every boundary) "
        f"over {len(types)} workflow types; "
        f"{cases if not orphans else 0} ended consistent; {len(orphans)} orphans found",
    )
    assert orphans == ()
    registered = {w.__name__ for w in WORKFLOWS}
    missed = registered - types - set(ELSEWHERE)
    assert not missed, f"workflow types the tour never crashed, nor named in ELSEWHERE: {missed}"
    stale = set(ELSEWHERE) & types
    assert not stale, f"crashed by the tour after all, take them out of ELSEWHERE: {stale}"

    missing = every_activity() - set(runs.twice) - set(NOT_REACHED) - SOMETIMES
    assert not missing, f"activities never run twice here, nor named in NOT_REACHED: {missing}"
    stale = {name: runs.workflows[name] for name in set(NOT_REACHED) & set(runs.twice)}
    assert not stale, f"reached after all, take them out of NOT_REACHED: {stale}"
