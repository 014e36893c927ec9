"""A steady, bounded request loop against one app through the router: what a deploy
looked like from outside. It counts every answer by status, every connection error, and
the order in which distinct bodies (versions) were first and last seen.

Used by the rolling-deploy test and benchmark; requests go to the router's own address
with the app's Host header, so nothing leaves the machine.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoopResult:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    #: Each distinct body's label (see ``RequestLoop.label``) in the order first seen.
    versions: list[str] = field(default_factory=list)
    #: The label of every answer, in order.
    sequence: list[str] = field(default_factory=list)
    #: With ``numbered``: the number of every request answered 2xx.
    answered: list[int] = field(default_factory=list)

    @property
    def failures(self) -> int:
        """Answers other than 2xx, and requests that got no answer at all."""
        return sum(n for status, n in self.statuses.items() if status // 100 != 2) + len(
            self.errors
        )


class RequestLoop:
    """GET ``path`` on ``host`` through the router every ``interval`` seconds, in a
    thread, until stopped or ``limit`` requests were made. ``numbered`` adds ``?n=<n>`` to
    each request, so that each can be found again in the app's log."""

    def __init__(
        self,
        router: tuple[str, int],
        host: str,
        path: str = "/",
        interval: float = 0.05,
        limit: int = 100_000,
        timeout: float = 10.0,
        numbered: bool = False,
    ) -> None:
        self.router, self.host, self.path = router, host, path
        self.numbered = numbered
        self.interval, self.limit, self.timeout = interval, limit, timeout
        self.result = LoopResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def label(body: str) -> str:
        """What tells versions apart: the body's first word (the sample's greeting)."""
        return body.split()[0] if body.split() else ""

    def _run(self) -> None:
        result = self.result
        while not self._stop.is_set() and result.requests < self.limit:
            began = time.monotonic()
            result.requests += 1
            number = result.requests
            path = f"{self.path}?n={number}" if self.numbered else self.path
            conn = http.client.HTTPConnection(*self.router, timeout=self.timeout)
            try:
                conn.request("GET", path, headers={"Host": self.host})
                response = conn.getresponse()
                body = response.read().decode(errors="replace")
                result.statuses[response.status] += 1
                if response.status // 100 == 2:
                    label = self.label(body)
                    result.sequence.append(label)
                    if self.numbered:
                        result.answered.append(number)
                    if label not in result.versions:
                        result.versions.append(label)
            except (OSError, http.client.HTTPException) as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)
