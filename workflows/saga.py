"""A small saga: register the undo before the step, run the undos in reverse on failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow

Compensation = Callable[[], Awaitable[object]]


class Saga:
    """Collects compensations; ``compensate`` runs them newest first.

    A compensation that fails is logged and the others still run: leaving one thing behind
    is better than leaving everything behind.
    """

    def __init__(self) -> None:
        self._undo: list[tuple[str, Compensation]] = []

    def add(self, name: str, undo: Compensation) -> None:
        self._undo.append((name, undo))

    async def compensate(self) -> list[str]:
        """Run every compensation in reverse order; return the names of those that failed."""
        failed = []
        for name, undo in reversed(self._undo):
            try:
                await undo()
            except Exception as exc:  # noqa: BLE001 - keep compensating the rest
                workflow.logger.error("compensation %s failed: %s", name, exc)
                failed.append(name)
        self._undo.clear()
        return failed
