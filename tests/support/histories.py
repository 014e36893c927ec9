"""Recorded workflow histories: what an upgrade must still be able to replay.

``record`` saves one history per workflow type and close status from a Temporal server
(the test suite's, after it ran); ``replay`` runs one through the current workflow code
with Temporal's ``Replayer``, which fails on any change to the steps the history took
(a change that is not behind ``workflow.patched``).
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Replayer

from launcher.worker import sandboxed_runner
from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"

#: How a recorded run ended; running ones are not recorded (their end is not known).
RECORDED = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued",
}

#: Histories longer than this are skipped: a long-lived supervisor's run says no more.
MAX_BYTES = 400_000


async def record(address: str, out_dir: Path) -> list[Path]:
    """Save a history for each (workflow type, close status) not yet in ``out_dir``."""
    client = await Client.connect(address)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    async for execution in client.list_workflows():
        label = RECORDED.get(execution.status) if execution.status else None
        path = out_dir / f"{execution.workflow_type}-{label}.json"
        if label is None or path.exists():
            continue
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        text = (await handle.fetch_history()).to_json()
        if len(text) <= MAX_BYTES:
            path.write_text(text)
            written.append(path)
    return written


async def replay(path: Path) -> None:
    """Replay one recorded history with the current workflows; raise if it diverges."""
    from temporalio.client import WorkflowHistory

    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=sandboxed_runner())
    await replayer.replay_workflow(history)
