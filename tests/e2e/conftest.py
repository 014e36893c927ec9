"""The whole cloud, started once for the e2e tests with ``nimbus up``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.services.libvirtd import LibvirtdHandle
from tests.support.cloud import Cloud, start_cloud, stop_cloud


@pytest.fixture(scope="session")
def cloud(
    tmp_path_factory: pytest.TempPathFactory,
    guest_image: Path,
    runtime_image: Path,
    postgresql_image: Path,
    libvirtd: LibvirtdHandle,
) -> Iterator[Cloud]:
    """Depends on ``libvirtd`` so that the session, not this cloud, owns the daemon."""
    c = start_cloud(tmp_path_factory.mktemp("cloud"), guest_image, runtime_image, postgresql_image)
    try:
        yield c
    finally:
        stop_cloud(c)
