"""The workflow sandbox loads a workflow's modules again for every run: the worker leaves
their bytecode beside them so that each load reads it instead of compiling the source
again, even where PYTHONDONTWRITEBYTECODE is set (as on the machines that run Nimbus)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import workflows
from launcher.worker import sandboxed_runner

SOURCES = sorted(Path(workflows.__file__).parent.glob("*.py"))


def _fresh(source: Path) -> bool:
    """Whether the source's cached bytecode exists and was compiled from this source."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.exists():
        return False
    header = cached.read_bytes()[8:12]  # the source's mtime, as importlib checks it
    return int.from_bytes(header, "little") == int(source.stat().st_mtime) & 0xFFFFFFFF


def test_the_worker_writes_the_bytecode_of_every_workflow_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    for source in SOURCES:
        Path(importlib.util.cache_from_source(str(source))).unlink(missing_ok=True)
    assert not any(_fresh(s) for s in SOURCES)
    sandboxed_runner()
    assert SOURCES and all(_fresh(s) for s in SOURCES)
