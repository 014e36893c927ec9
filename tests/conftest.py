"""Fixtures for workflow and API tests: a real Temporal server, fake drivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.hypervisor.fake import FakeHypervisor
from activities.storage.fake import FakeDiskDriver
from nimbus.config import Settings
from tests.support.stack import Stack, make_stack
from tests.support.temporal_server import temporal_dev_server


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporal_dev_server(tmp_path_factory.mktemp("temporal") / "temporal.log") as address:
        yield address


@pytest.fixture
def settings(tmp_path: Path, temporal_address: str) -> Settings:
    host, port = temporal_address.split(":")
    return Settings(
        data_dir=tmp_path,
        temporal_host=host,
        temporal_port=int(port),
        host_name="testhost",
        power_sync_seconds=0.2,
        instance_prefix="nimbus-",
    )


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "guest.raw"
    path.write_bytes(b"\0" * 4096)
    return path


@pytest.fixture
def stack(settings: Settings, image_file: Path) -> Iterator[Stack]:
    s = make_stack(settings, FakeHypervisor(), FakeDiskDriver(settings.instances_dir), image_file)
    yield s
    s.worker.stop()
    s.bridge.close()
