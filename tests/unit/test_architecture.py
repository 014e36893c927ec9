"""Which way the imports point. The core (settings, errors, database, quotas) imports no
layer above it; the API never loads a hypervisor or network driver (a process that serves
HTTP has no business with libvirt or the host's links; it names the drivers' contracts
only through the workflows it starts); the dashboard is a client of the public APIs and
loads neither the API, the database nor the workflow engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The modules every layer may use, which use none of the layers.
CORE = (
    "config", "errors", "db", "db_audit", "db_compute", "db_credentials", "db_network",
    "db_paas", "db_volume", "quota", "ipam", "passwords", "tokens", "sshkeys", "exit",
)  # fmt: skip
LAYERS = ("activities", "workflows", "api", "paas", "dashboard", "observability")
#: Driver packages: their contracts (``base``) are shared, their implementations are not.
DRIVER_PACKAGES = ("activities.hypervisor", "activities.network")
CONTRACTS = {"activities.hypervisor", "activities.hypervisor.base", "activities.network",
             "activities.network.base"}  # fmt: skip


def is_hypervisor_or_network_driver(name: str) -> bool:
    """libvirt, or a hypervisor or network driver module (not the contracts every layer
    may name: the workflows that the API starts refer to them)."""
    if _under(name, ("libvirt", "pyroute2", "nftables")):
        return True
    return _under(name, DRIVER_PACKAGES) and name not in CONTRACTS


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (deferred imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_layer_above_it(module: str) -> None:
    wrong = {m for m in imported(ROOT / "nimbus" / f"{module}.py") if _under(m, LAYERS)}
    assert not wrong, f"nimbus/{module}.py imports {sorted(wrong)}"


def test_no_api_module_imports_a_driver() -> None:
    wrong = {
        f"{path.relative_to(ROOT)}: {m}"
        for path in sorted((ROOT / "api").rglob("*.py"))
        for m in imported(path)
        if is_hypervisor_or_network_driver(m)
    }
    assert not wrong, sorted(wrong)


def _loaded_by(package: str) -> set[str]:
    """The modules a fresh interpreter holds once every module of ``package`` is imported
    (as a process serving it has them, its blueprints built)."""
    probe = (
        "import importlib, pkgutil, sys; "
        f"import {package} as p; "
        "[importlib.import_module(m.name) "
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]; "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_the_api_process_loads_no_hypervisor_or_network_driver() -> None:
    loaded = _loaded_by("api")
    assert "api.compute" in loaded  # the probe did load the API
    assert not {m for m in loaded if is_hypervisor_or_network_driver(m)}


def test_the_dashboard_loads_neither_the_api_nor_the_database_nor_temporal() -> None:
    loaded = _loaded_by("dashboard")
    assert "dashboard.compute" in loaded
    wrong = {
        m
        for m in loaded
        if _under(m, ("activities", "workflows", "temporalio", "nimbus.db", "libvirt"))
        or (_under(m, ("api",)) and m != "api.server")
    }
    assert not wrong, sorted(wrong)
