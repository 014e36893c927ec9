"""Failure injection shared by the in-package fakes of every driver.

Tests make the next call(s) of a named method raise, to drive workflows down their error
and compensation paths without patching anything.
"""

from __future__ import annotations

import threading


class Faults:
    """Errors queued per method name, raised by ``check`` before the method does anything."""

    def __init__(self) -> None:
        self._queued: dict[str, list[BaseException]] = {}
        self._lock = threading.Lock()

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error``."""
        with self._lock:
            self._queued.setdefault(method, []).extend([error] * times)

    def clear(self) -> None:
        """Forget every queued failure."""
        with self._lock:
            self._queued.clear()

    def check(self, method: str) -> None:
        """Raise the next error queued for ``method``, if any."""
        with self._lock:
            queued = self._queued.get(method)
            error = queued.pop(0) if queued else None
        if error is not None:
            raise error
