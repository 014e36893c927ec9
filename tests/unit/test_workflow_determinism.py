"""The cloud's workers run workflows outside Temporal's sandbox (``launcher.worker.
workflow_runner``), so the modules that workflows run are held here to what the sandbox
would enforce: no clock, randomness, I/O or process state of their own, and no module
state shared between runs. (Every workflow the test suites run, and every recorded
history replayed, still runs in the sandbox, which catches what reading cannot.)"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import workflows
from launcher.worker import workflow_runner
from nimbus.config import Settings
from workflows.registry import WORKFLOWS

PACKAGE = Path(workflows.__file__).parent

#: Modules a workflow must not use: the clock, randomness, processes, files, the network,
#: threads, databases and drivers (activities do all of that).
FORBIDDEN_MODULES = {
    "time", "random", "uuid", "os", "sys", "subprocess", "socket", "threading",
    "multiprocessing", "concurrent", "requests", "urllib", "http", "pathlib", "shutil",
    "tempfile", "secrets", "sqlalchemy", "libvirt", "rados", "rbd", "pyroute2",
}  # fmt: skip
#: Calls a workflow must not make (``workflow.now()`` and ``workflow.uuid4()`` instead).
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "input", "exec", "eval"}
MUTATORS = {"append", "extend", "insert", "update", "add", "setdefault", "pop", "popitem",
            "clear", "remove", "discard"}  # fmt: skip


def _path(module: str) -> Path:
    return PACKAGE / f"{module.removeprefix('workflows.')}.py"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _workflow_modules() -> set[str]:
    """The modules that define the registered workflows and the ``workflows`` modules they
    import, transitively: the code a worker runs as workflow code."""
    found: set[str] = set()
    todo = [cls.__module__ for cls in WORKFLOWS]
    while todo:
        module = todo.pop()
        if module in found:
            continue
        found.add(module)
        for node in ast.walk(_tree(_path(module))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workflows."):
                todo.append(str(node.module))
    return found


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _findings(module: str, path: Path | None = None) -> list[str]:
    tree = _tree(path or _path(module))
    top = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        line = f"{module}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            found += [f"{line} imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.Global):
            found.append(f"{line} declares global {', '.join(node.names)}")
        elif isinstance(node, ast.Call):
            called = node.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            on_workflow = isinstance(called, ast.Attribute) and _is_name(called.value, "workflow")
            if name in FORBIDDEN_CALLS and not on_workflow:
                found.append(f"{line} calls {name}()")
            if (
                isinstance(called, ast.Attribute)
                and called.attr in MUTATORS
                and isinstance(called.value, ast.Name)
                and called.value.id in top
            ):
                found.append(f"{line} changes module state {called.value.id}")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store | ast.Del)
            and isinstance(node.value, ast.Name)
            and node.value.id in top
        ):
            found.append(f"{line} changes module state {node.value.id}")
    return found


def test_the_workflow_modules_are_found() -> None:
    modules = _workflow_modules()
    assert {"workflows.server", "workflows.netsync", "workflows.common"} <= modules
    assert "workflows.starter" not in modules  # the API's side, not workflow code


@pytest.mark.parametrize("module", sorted(_workflow_modules()))
def test_workflow_code_keeps_to_what_the_sandbox_allows(module: str) -> None:
    assert _findings(module) == []


def test_the_reading_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = """
import time
from uuid import uuid4
CACHE = {}
SEEN = []
def step():
    global CACHE
    CACHE["x"] = datetime.now() or workflow.now()
    SEEN.append(open("f"))
"""
    probe = tmp_path / "probe.py"
    probe.write_text(bad)
    found = _findings("probe", probe)
    assert sorted(f.split(" ", 1)[1] for f in found) == [
        "calls now()",
        "calls open()",
        "changes module state CACHE",
        "changes module state SEEN",
        "declares global CACHE",
        "imports time",
        "imports uuid",
    ]


def test_the_cloud_runs_workflows_outside_the_sandbox_unless_asked() -> None:
    assert isinstance(workflow_runner(Settings()), UnsandboxedWorkflowRunner)
    asked = dataclasses.replace(Settings(), workflow_sandbox=True)
    assert isinstance(workflow_runner(asked), SandboxedWorkflowRunner)
