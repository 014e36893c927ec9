"""The settings the cloud's Temporal server (and the tests' one) starts with."""

from __future__ import annotations

import mmap
from pathlib import Path

from launcher.services import temporal
from nimbus.config import Settings


def test_the_queue_settings_are_keys_the_server_knows() -> None:
    """The server takes any ``--dynamic-config-value`` key and ignores one it does not
    know: a misspelt key would silently leave every task waiting for the default 20
    loads a second. Each key must be one the installed server's binary holds."""
    argv = temporal.argv(Settings(data_dir=Path("/x")))
    values = [argv[i + 1] for i, flag in enumerate(argv) if flag == "--dynamic-config-value"]
    assert len(values) == 3
    with (
        temporal.temporal_binary().open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as binary,
    ):
        for value in values:
            key, number = value.split("=")
            assert binary.find(key.encode()) >= 0, key
            assert int(number) == temporal.QUEUE_READS_PER_SECOND
