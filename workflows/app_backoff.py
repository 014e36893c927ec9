"""When a crashed app instance is started again: Cloud Foundry's crash policy.

The first few crashes of an instance are restarted at once; after that the wait doubles
from ``first_seconds`` up to ``cap_seconds``. An instance that stays healthy for
``reset_seconds`` has its crash count forgotten. The schedule is a plain value so tests
can compress it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    immediate: int = 3
    first_seconds: float = 30.0
    cap_seconds: float = 960.0
    reset_seconds: float = 300.0

    def delay(self, crashes: int) -> float:
        """Seconds to wait before restarting an instance that has crashed ``crashes``
        times in a row (1 for its first crash)."""
        if crashes <= self.immediate:
            return 0.0
        doublings = crashes - self.immediate - 1
        return min(self.cap_seconds, self.first_seconds * 2.0 ** min(doublings, 32))

    def schedule(self, crashes: int) -> list[float]:
        """The waits of the first ``crashes`` restarts, for display and tests."""
        return [self.delay(n) for n in range(1, crashes + 1)]
