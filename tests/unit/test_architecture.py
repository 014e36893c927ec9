"""Which way the imports point. The core (``nimbus/``: settings, errors, database, quotas)
imports no layer above it, and loading it loads no driver; the launcher (``launcher/``:
the command line, the worker, the daemons, the real drivers) may import every layer and
no layer imports it; the API never loads a driver (a process that serves HTTP has no
business with libvirt or the host's links; it names the drivers' contracts only through
the workflows it starts, and is handed its block store by the launcher); the dashboard
is a client of the public APIs and loads neither the API, the database nor the workflow
engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The layers, which may use the core and each other, and none of them the launcher.
LAYERS = ("activities", "workflows", "api", "paas", "dashboard", "observability")
#: What starts the processes and wires the drivers: only it (and the tests) imports it.
LAUNCHER = "launcher"
#: Libraries that drive the host or the storage: libvirt, Ceph, the kernel's network.
DRIVER_LIBRARIES = ("libvirt", "rados", "rbd", "pyroute2", "nftables")
#: Driver packages: their contracts (``base``) are shared, their implementations are not.
DRIVER_PACKAGES = ("activities.hypervisor", "activities.network")
CONTRACTS = {"activities.hypervisor", "activities.hypervisor.base", "activities.network",
             "activities.network.base"}  # fmt: skip
#: The real storage drivers, beside their contracts (``activities.storage.block``,
#: ``activities.objectstore.base``).
STORAGE_DRIVERS = ("activities.storage.rbd_store", "activities.objectstore.radosgw_admin")
#: Alembic's environment, which runs the migrations when it is loaded and so is loaded
#: by Alembic alone (its imports are checked with the rest of the core).
ALEMBIC_ONLY = ("nimbus.migrations.env",)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: Every module of the core, found on disk (the migrations too).
CORE = sorted(module_name(p) for p in (ROOT / "nimbus").rglob("*.py"))


def is_hypervisor_or_network_driver(name: str) -> bool:
    """libvirt, or a hypervisor or network driver module (not the contracts every layer
    may name: the workflows that the API starts refer to them)."""
    if _under(name, ("libvirt", "pyroute2", "nftables")):
        return True
    return _under(name, DRIVER_PACKAGES) and name not in CONTRACTS


def is_driver(name: str) -> bool:
    """A hypervisor, network or storage driver, or a library that only drivers use."""
    return (
        is_hypervisor_or_network_driver(name)
        or _under(name, DRIVER_LIBRARIES)
        or _under(name, STORAGE_DRIVERS)
    )


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


def _path(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def test_the_core_is_found() -> None:
    assert {"nimbus", "nimbus.config", "nimbus.db", "nimbus.errors"} <= set(CORE)
    assert "nimbus.migrations.env" in CORE and len(CORE) > 20


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_layer_above_it_nor_a_driver(module: str) -> None:
    wrong = {m for m in imported(_path(module)) if _under(m, (*LAYERS, LAUNCHER)) or is_driver(m)}
    assert not wrong, f"{module} imports {sorted(wrong)}"


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_imports_the_launcher(layer: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)}: {m}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for m in imported(path)
        if _under(m, (LAUNCHER,))
    }
    assert not wrong, sorted(wrong)


def test_no_api_module_imports_a_driver() -> None:
    wrong = {
        f"{path.relative_to(ROOT)}: {m}"
        for path in sorted((ROOT / "api").rglob("*.py"))
        for m in imported(path)
        if is_driver(m)
    }
    assert not wrong, sorted(wrong)


def _loaded_by(package: str, skip: tuple[str, ...] = ()) -> set[str]:
    """The modules a fresh interpreter holds once every module of ``package`` (but
    ``skip``) is imported (as a process serving it has them, its blueprints built)."""
    probe = (
        "import importlib, pkgutil, sys; "
        f"import {package} as p; "
        "[importlib.import_module(m.name) "
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.') "
        f"if m.name not in {skip!r}]; "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_the_core_loads_no_driver_and_no_layer() -> None:
    loaded = _loaded_by("nimbus", skip=ALEMBIC_ONLY)
    # the probe did load the whole core
    assert set(CORE) - set(ALEMBIC_ONLY) <= loaded
    wrong = {m for m in loaded if is_driver(m) or _under(m, (*LAYERS, LAUNCHER))}
    assert not wrong, sorted(wrong)


def test_the_api_process_loads_no_driver_and_not_the_launcher() -> None:
    loaded = _loaded_by("api")
    assert "api.compute" in loaded  # the probe did load the API
    wrong = {m for m in loaded if is_driver(m) or _under(m, (LAUNCHER,))}
    assert not wrong, sorted(wrong)


def test_the_dashboard_loads_neither_the_api_nor_the_database_nor_temporal() -> None:
    loaded = _loaded_by("dashboard")
    assert "dashboard.compute" in loaded
    wrong = {
        m
        for m in loaded
        if _under(m, ("activities", "workflows", "temporalio", "nimbus.db", "libvirt", LAUNCHER))
        or (_under(m, ("api",)) and m != "api.server")
    }
    assert not wrong, sorted(wrong)
