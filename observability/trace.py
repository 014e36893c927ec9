"""``nimbus trace REQUEST_ID``: everything one API request did, from one id.

The id is the ``x-openstack-request-id`` of the API's answer. The API's log line for it
names the workflows the request started; each workflow's state comes from Temporal; and
every worker log line that carries the id (one per activity attempt at least, see
``observability.temporal``) shows what its activities did, in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.service import RPCError

from nimbus import temporal
from nimbus.config import Settings
from nimbus.errors import NotFound
from observability.logs import ROTATE_KEEP


def log_lines(log_dir: Path, process_glob: str) -> Iterator[dict[str, Any]]:
    """Every JSON line of the matching processes' logs, the oldest rotated file first."""
    for current in sorted(log_dir.glob(f"{process_glob}.jsonl")):
        rotated = [current.with_name(f"{current.name}.{n}") for n in range(ROTATE_KEEP, 0, -1)]
        for path in [*rotated, current]:
            if not path.exists():
                continue
            with path.open(encoding="utf-8", errors="replace") as f:
                for text in f:
                    try:
                        line = json.loads(text)
                    except ValueError:
                        continue
                    if isinstance(line, dict):
                        yield line


@dataclass
class Trace:
    request_id: str
    api: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)


def collect(settings: Settings, request_id: str) -> Trace:
    """The request's API lines, its workflows (with Temporal's view of each) and every
    worker line carrying its id; ``NotFound`` if no API line has it."""
    found = Trace(request_id)
    found.api = [x for x in log_lines(settings.log_dir, "api") if x.get("request_id") == request_id]
    if not found.api:
        raise NotFound(
            f"no API log line has request id {request_id} (in {settings.log_dir}/api.jsonl "
            "and its rotated files)"
        )
    runs = {
        (w["workflow_id"], w.get("run_id", "")) for x in found.api for w in x.get("workflows", [])
    }
    found.workflows = asyncio.run(_describe(settings, sorted(runs)))
    found.activities = sorted(
        (x for x in log_lines(settings.log_dir, "worker*") if x.get("request_id") == request_id),
        key=lambda x: str(x.get("ts", "")),
    )
    return found


async def _describe(settings: Settings, runs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    client = await temporal.connect(settings)
    described = []
    for workflow_id, run_id in runs:
        view: dict[str, Any] = {"workflow_id": workflow_id, "run_id": run_id}
        try:
            d = await client.get_workflow_handle(workflow_id, run_id=run_id or None).describe()
        except RPCError as exc:
            view["status"] = f"unknown ({exc.message})"
        else:
            view |= {
                "type": d.workflow_type,
                "status": d.status.name if d.status else "UNKNOWN",
                "started": d.start_time.isoformat() if d.start_time else None,
                "closed": d.close_time.isoformat() if d.close_time else None,
                "run_id": d.run_id,
            }
        view["ui"] = (
            f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
            f"/workflows/{workflow_id}/{view['run_id']}/history"
        )
        described.append(view)
    return described


def render(found: Trace) -> str:
    """The trace as text: the API lines, each workflow, then the worker's lines."""
    out = [f"Request {found.request_id}", "", "API:"]
    for x in found.api:
        out.append(f"  {x.get('ts')}  {x.get('msg')}")
    out += ["", "Workflows:"]
    for w in found.workflows:
        out.append(f"  {w['workflow_id']}  {w.get('type', '?')}  {w.get('status')}")
        out.append(f"    run {w['run_id']}  started {w.get('started')}  closed {w.get('closed')}")
        out.append(f"    {w['ui']}")
    if not found.workflows:
        out.append("  (the request started none)")
    out += ["", "Activities and other worker lines:"]
    for x in found.activities:
        where = x.get("activity") or x.get("logger")
        attempt = f" attempt {x['attempt']}" if "attempt" in x else ""
        out.append(
            f"  {x.get('ts')}  {x.get('workflow_id', '-')}  {where}{attempt}: {x.get('msg')}"
        )
    if not found.activities:
        out.append("  (none logged)")
    return "\n".join(out)


def as_json(found: Trace) -> str:
    return json.dumps(
        {
            "request_id": found.request_id,
            "api": found.api,
            "workflows": found.workflows,
            "activities": found.activities,
        },
        indent=2,
        default=str,
    )
