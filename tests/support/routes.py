"""Werkzeug's routes, parsed and given URL builders once per process rather than once
per app.

Werkzeug generates and compiles a Python function for each route of each app it binds
(``Rule._compile_builder``): for the API's 286 routes that was 0.3 s of every test's
stack, and the suite makes a stack per test. The function depends only on the route's
parsed parts, its defaults and which of the two builders it is (the converters are read
from the rule each call), so one made for an equal route serves every later one.

Parsing the routes themselves (``Rule.compile``: the matcher's parts, the builder's trace,
the converters) was then two thirds of making an app, 45 ms a test. Its result depends
only on the rule's text, host or subdomain, slash merging and the map's converter
classes; an equal rule takes the parts and trace already made (the matcher only reads
them) and new converters for its own map, made with the same arguments.
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


_original_compile = Rule.compile
#: (parts, trace, converters as ``get_converter``'s arguments) of each rule parsed.
_parsed: dict[tuple[Any, ...], tuple[list[Any], list[Any], list[tuple[Any, ...]]]] = {}


@functools.wraps(_original_compile)
def _compile(self: Rule) -> None:
    assert self.map is not None, "rule not bound"
    key = (
        self.rule,
        self.host if self.map.host_matching else self.subdomain,
        self.map.host_matching,
        self.merge_slashes,
        tuple(sorted(self.map.converters.items())),
    )
    parsed = _parsed.get(key)
    if parsed is None:
        made: list[tuple[Any, ...]] = []
        get_converter = self.get_converter

        def recorded(*args: Any) -> Any:
            made.append(args)
            return get_converter(*args)

        self.get_converter = recorded  # type: ignore[method-assign,assignment]
        try:
            _original_compile(self)
        finally:
            del self.get_converter
        _parsed[key] = (list(self._parts), list(self._trace), made)
        return
    parts, trace, converters = parsed
    self._parts, self._trace = list(parts), list(trace)
    self._converters = {}
    for args in converters:
        self._converters[args[0]] = self.get_converter(*args)
        self.arguments.add(args[0])
    self._build = self._compile_builder(False).__get__(self, None)
    self._build_unknown = self._compile_builder(True).__get__(self, None)


def install() -> None:
    """Memoize the parsing and builders in this process (once is enough; again changes
    nothing)."""
    Rule._compile_builder = _compile_builder  # type: ignore[method-assign]
    Rule.compile = _compile  # type: ignore[method-assign]
