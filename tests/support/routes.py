"""Werkzeug's URL builders, made once per process rather than once per app.

Werkzeug generates and compiles a Python function for each route of each app it binds
(``Rule._compile_builder``): for the API's 286 routes that was 0.3 s of every test's
stack, and the suite makes a stack per test. The function depends only on the route's
parsed parts, its defaults and which of the two builders it is (the converters are read
from the rule each call), so one made for an equal route serves every later one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_original = Rule._compile_builder
_made: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


@functools.wraps(_original)
def _compile_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    defaults = self.defaults or {}
    key = (
        self.rule,
        tuple(self._trace),
        tuple(
            (name, type(self._converters.get(name)).__name__, repr(value))
            for name, value in sorted(defaults.items())
        ),
        append_unknown,
    )
    made = _made.get(key)
    if made is None:
        made = _made[key] = _original(self, append_unknown)
    return made


def install() -> None:
    """Memoize the builders in this process (once is enough; again changes nothing)."""
    Rule._compile_builder = _compile_builder  # type: ignore[method-assign]
