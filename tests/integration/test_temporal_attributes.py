"""A Temporal server started by an older Nimbus lacks the newer search attributes;
``nimbus up`` adds them, so workflows started with them are accepted."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from launcher.services.temporal import register_search_attributes
from nimbus.config import Settings
from tests.support.temporal_server import temporal_dev_server
from workflows.common import SEARCH_ATTRIBUTES


def test_missing_search_attributes_are_registered_once(settings: Settings, tmp_path: Path) -> None:
    with temporal_dev_server(tmp_path / "temporal.log", attributes=False) as address:
        host, port = address.rsplit(":", 1)
        here = dataclasses.replace(
            settings, temporal_host=host, temporal_port=int(port), temporal_namespace="default"
        )
        added = asyncio.run(register_search_attributes(here))
        assert sorted(added) == sorted(k.name for k in SEARCH_ATTRIBUTES)
        assert asyncio.run(register_search_attributes(here)) == []
