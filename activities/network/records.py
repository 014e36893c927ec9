"""One small file per object a driver made, under its state directory.

Device names hold only 11 characters of an id, so the host alone cannot say which ids a
driver realised. A record is written before the first device of an object is created and
removed after the last one is gone; ``state()`` reports an object when both its record and
its devices exist. A record holds the object's last spec, as JSON, for whoever reads it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

KINDS = ("networks", "dhcp", "routers", "filters", "groups")


class Records:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir
        for kind in KINDS:
            (state_dir / kind).mkdir(parents=True, exist_ok=True)

    def _path(self, kind: str, object_id: str) -> Path:
        return self.root / kind / f"{object_id}.json"

    def write(self, kind: str, object_id: str, spec: Any) -> None:
        """Record ``spec`` (a dataclass or plain data) atomically."""
        is_instance = dataclasses.is_dataclass(spec) and not isinstance(spec, type)
        data = dataclasses.asdict(spec) if is_instance else spec
        path = self._path(kind, object_id)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, sort_keys=True))
        os.replace(temporary, path)

    def read(self, kind: str, object_id: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._path(kind, object_id).read_text())
        except FileNotFoundError:
            return None
        return data

    def remove(self, kind: str, object_id: str) -> None:
        self._path(kind, object_id).unlink(missing_ok=True)

    def ids(self, kind: str) -> set[str]:
        return {path.stem for path in (self.root / kind).glob("*.json")}

    def empty(self) -> bool:
        return not any(self.ids(kind) for kind in KINDS)
