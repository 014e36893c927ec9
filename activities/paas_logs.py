"""Shipping app instances' output from this host into their apps' logs.

A guest writes its app's stdout and stderr to its second serial port, which virtlogd
keeps in ``<instances_dir>/<server id>/app.log``; no guest network is involved. The
shipper reads each file from where it stopped, tags the lines ``APP/<index>`` and stores
them with the new offset in one transaction, so a line is stored exactly once even if the
shipper dies between two reads. Only whole lines are taken; a partial last line waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio import activity

from nimbus.db import Database
from nimbus.db_paas import Instance, LogOffset
from paas import logstore

log = logging.getLogger(__name__)

#: What the guest's launch script prints around the app (see ``paas.launch``).
APP_STARTED, APP_EXITED = "NIMBUS APP STARTED", "NIMBUS APP EXITED"
#: At most this much of a file is read per pass.
MAX_READ = 1 << 20


@dataclass(frozen=True)
class ShipInput:
    server_id: str


def parse_exit(line: str) -> int | None:
    """The status of an ``NIMBUS APP EXITED <status>`` line, else None."""
    if not line.startswith(APP_EXITED):
        return None
    word = line[len(APP_EXITED) :].strip().split(" ", 1)[0]
    return int(word) if word.lstrip("-").isdigit() else None


class LogShipper:
    """Moves new whole lines of each app instance's log file into the log store."""

    def __init__(self, db: Database, instances_dir: Path) -> None:
        self.db = db
        self.instances_dir = instances_dir

    def ship_all(self) -> int:
        """One pass over every app instance of this host; returns the lines stored."""
        if not self.instances_dir.is_dir():
            return 0
        here = {p.name for p in self.instances_dir.iterdir() if (p / "app.log").exists()}
        if not here:
            return 0
        with self.db.session() as s:
            ours = {
                x
                for x in s.scalars(select(Instance.server_id).where(Instance.server_id.in_(here)))
                if x
            }
        return sum(self.ship(server_id) for server_id in sorted(ours))

    def ship(self, server_id: str) -> int:
        """Store the new whole lines of one instance's log; returns how many."""
        path = self.instances_dir / server_id / "app.log"
        with self.db.session() as s:
            inst = s.scalars(select(Instance).where(Instance.server_id == server_id)).first()
            if inst is None or not path.exists():
                return 0
            offset = s.get(LogOffset, server_id) or LogOffset(server_id=server_id, offset=0)
            s.add(offset)
            start, chunk = _read(path, offset.offset)
            end = chunk.rfind(b"\n") + 1
            if end == 0:
                return 0
            lines = [_clean(raw) for raw in chunk[:end].split(b"\n")[:-1]]
            offset.offset = start + end
            for line in lines:
                offset.started = offset.started or line.startswith(APP_STARTED)
                status = parse_exit(line)
                offset.exit_status = status if status is not None else offset.exit_status
            logstore.add_lines(s, inst.app_id, f"APP/{inst.index}", lines)
            logstore.trim(s, inst.app_id)
            return len(lines)

    @activity.defn
    def ship_instance_log(self, inp: ShipInput) -> None:
        """Store what is left of an instance's log before its server is deleted."""
        while self.ship(inp.server_id):
            pass

    def all(self) -> list[Callable[..., Any]]:
        return [self.ship_instance_log]


def _read(path: Path, offset: int) -> tuple[int, bytes]:
    """Up to ``MAX_READ`` bytes from ``offset`` and where they start; a file that shrank
    (virtlogd rotated it) is read from its start."""
    if path.stat().st_size < offset:
        offset = 0
    with path.open("rb") as f:
        f.seek(offset)
        return offset, f.read(MAX_READ)


def _clean(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")
