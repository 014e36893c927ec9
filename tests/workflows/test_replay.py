"""Every recorded workflow history replays on the current workflow code.

The histories (tests/workflows/histories, made by ``scripts/record-histories``) stand for
operations in flight during an upgrade: a change to a workflow's steps that is not behind
``workflow.patched`` (or a new workflow type) makes its history diverge, and fails here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.histories import HISTORIES, replay
from workflows.registry import WORKFLOWS

RECORDED = sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_a_recorded_history_replays(path: Path) -> None:
    asyncio.run(replay(path))


def test_every_workflow_type_has_a_recorded_history() -> None:
    recorded = {p.stem.rsplit("-", 1)[0] for p in RECORDED}
    missing = sorted({w.__name__ for w in WORKFLOWS} - recorded)
    assert not missing, f"no recorded history of {missing}: run scripts/record-histories"
