"""The whole cloud, started once for the e2e tests with ``nimbus up``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from launcher.services.libvirtd import LibvirtdHandle
from tests.support.cloud import Cloud, start_cloud, stop_cloud
from tests.support.leaks import cloud_leaks


@pytest.fixture(scope="session")
def cloud(
    tmp_path_factory: pytest.TempPathFactory,
    guest_image: Path,
    runtime_image: Path,
    postgresql_image: Path,
    libvirtd: LibvirtdHandle,
) -> Iterator[Cloud]:
    """Depends on ``libvirtd`` so that the session, not this cloud, owns the daemon. Once
    every test ran, no secret may be in the cloud's logs or workflow histories."""
    c = start_cloud(tmp_path_factory.mktemp("cloud"), guest_image, runtime_image, postgresql_image)
    try:
        yield c
        leaked = cloud_leaks(c.settings)
    finally:
        stop_cloud(c)
    assert leaked == [], "secrets in the cloud's logs or workflow histories"


#: Lines of a cloud's logs worth attaching to a failed test's report.
_NOTEWORTHY = ("WARNING", "ERROR", "Traceback", "failed", "Error:")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test that used the shared cloud gets the last warnings and errors of the
    cloud's worker and API logs in its report: the cloud is gone once CI ends."""
    report = yield
    cloud = getattr(item, "funcargs", {}).get("cloud")
    if report.failed and isinstance(cloud, Cloud):
        for name in ("worker", "api"):
            path = cloud.settings.log_dir / f"{name}.log"
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            picked = [line for line in lines if any(w in line for w in _NOTEWORTHY)]
            report.sections.append((f"cloud {name}.log (warnings)", "\n".join(picked[-40:])))
    return report
