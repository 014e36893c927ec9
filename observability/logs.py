"""Structured logs: every Nimbus process writes JSON lines to ``<log dir>/<name>.jsonl``
(rotated at 10 MiB, five kept), each with the request id it serves (``REQUEST_ID``) and,
in an activity, the workflow, run, activity and attempt. ``nimbus trace REQUEST_ID``
reads them back. Warnings and errors also go to standard error in plain text, which
``nimbus up`` keeps in ``<name>.log`` with whatever a crash prints.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

from temporalio import activity

from observability.context import REQUEST_ID

ROTATE_BYTES = 10 << 20
ROTATE_KEEP = 5
#: ``LogRecord`` attributes that are not extra fields given by the caller.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def log_file(log_dir: Path, process: str) -> Path:
    return log_dir / f"{process}.jsonl"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the process, the request id
    and activity it belongs to, the caller's extra fields, and any exception."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "process": self.process,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        if activity.in_activity():
            info = activity.info()
            line |= {
                "workflow_id": info.workflow_id,
                "run_id": info.workflow_run_id,
                "activity": info.activity_type,
                "attempt": info.attempt,
            }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(process: str, log_dir: Path, level: int = logging.INFO) -> Path:
    """Send this process's logging to its rotated JSON file (and warnings to stderr)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_file(log_dir, process)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=ROTATE_BYTES, backupCount=ROTATE_KEEP, encoding="utf-8"
    )
    handler.setFormatter(JsonFormatter(process))
    errors = logging.StreamHandler(sys.stderr)
    errors.setLevel(logging.WARNING)
    errors.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.addHandler(errors)
    root.setLevel(level)
    return path
