"""The query parameters a view reads, found in its code (and in the ``api`` functions it
calls): what the OpenAPI document lists for each operation. Read from the code, not
written down beside it, so a parameter a view starts to read is documented, and fuzzed,
without anyone remembering to.

What counts as a read of ``request.args`` (or a local ``args`` bound to it): ``.get(K)``,
``.getlist(K)``, ``[K]`` and ``K in ...``, where K is a string, a parameter of the
function whose callers pass a string (``int_query("limit", ...)``), or the variable of a
loop over strings (``for key in ("name", "status")``, or a module's tuple of names).
Filters taken by any attribute name (Neutron's) are not listed: they have no fixed names.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable, Iterator
from functools import cache
from types import ModuleType
from typing import Any

#: How deep the calls are followed from a view.
MAX_DEPTH = 4
_READERS = ("get", "getlist")


def query_names(view: Callable[..., Any]) -> list[str]:
    """The query parameters ``view`` reads, sorted."""
    return sorted(_names(inspect.unwrap(view), 0, set()))


def _names(func: Callable[..., Any], depth: int, seen: set[Any]) -> set[str]:
    """The names ``func`` and what it calls read; ``seen`` stops cycles."""
    if func in seen or depth > MAX_DEPTH:
        return set()
    seen.add(func)
    own, calls = _facts(func)
    found = set(own)
    for callee, passed in calls:
        found |= passed | _names(callee, depth + 1, seen)
    return found


#: What a function's own code reads, and the API functions it calls with the names it
#: passes them.
Facts = tuple[frozenset[str], tuple[tuple[Callable[..., Any], frozenset[str]], ...]]


@cache
def _facts(func: Callable[..., Any]) -> Facts:
    """``func``'s facts, read once however many views call it."""
    tree = _tree(func)
    if tree is None:
        return frozenset(), ()
    env = getattr(func, "__globals__", {})
    own = {k.value for k in _keys(tree) if isinstance(k, ast.Constant)}
    own |= _loop_names(tree, env)
    calls = []
    for call in (n for n in _nodes(tree) if isinstance(n, ast.Call)):
        callee = _resolve(call.func, env)
        if callee is not None:
            calls.append((callee, frozenset(_passed_names(call, callee))))
    return frozenset(n for n in own if isinstance(n, str)), tuple(calls)


def _tree(func: Callable[..., Any]) -> ast.AST | None:
    """The function's syntax tree; ``None`` when its source is not at hand."""
    code = getattr(func, "__code__", None)
    module = sys.modules.get(getattr(func, "__module__", ""))
    if code is None or module is None:
        return None
    return _functions(module).get(code.co_firstlineno)


@cache
def _functions(module: ModuleType) -> dict[int, ast.AST]:
    """A module's functions by their first line (their first decorator's, as Python
    counts it), parsed once for all its functions."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return {}
    return {
        min([n.lineno] + [d.lineno for d in n.decorator_list]): n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _is_args(node: ast.AST) -> bool:
    """``request.args``, or a local ``args`` that the views bind to it."""
    if isinstance(node, ast.Attribute):
        return node.attr == "args" and _named(node.value, "request")
    return _named(node, "args")


def _named(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _key(node: ast.AST) -> ast.expr | None:
    """The key expression of a read of the query string at ``node``, if it is one."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        return node.args[0] if node.func.attr in _READERS and _is_args(node.func.value) else None
    if isinstance(node, ast.Subscript) and _is_args(node.value):
        return node.slice
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and _is_args(node.comparators[0]):
        return node.left if isinstance(node.ops[0], ast.In | ast.NotIn) else None
    return None


@cache
def _nodes(tree: ast.AST) -> tuple[ast.AST, ...]:
    """Every node under ``tree``, walked once."""
    return tuple(ast.walk(tree))


def _keys(tree: ast.AST) -> Iterator[ast.expr]:
    """Every key expression the query string is read with under ``tree``."""
    for node in _nodes(tree):
        key = _key(node)
        if key is not None:
            yield key


def _key_vars(tree: ast.AST) -> set[str]:
    """The variables (alone or with a suffix, as ``key + "~"``) used as keys."""
    out = set()
    for key in _keys(tree):
        if isinstance(key, ast.BinOp):
            key = key.left
        if isinstance(key, ast.Name):
            out.add(key.id)
    return out


@cache
def _keyed_params(func: Callable[..., Any]) -> tuple[list[str], set[str]]:
    """The function's parameters, and the variables it reads keys by."""
    tree = _tree(func)
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return [], set()
    return params, _key_vars(tree) if tree is not None else set()


def _passed_names(call: ast.Call, callee: Callable[..., Any]) -> set[str]:
    """The strings a call passes to the callee's parameters that it reads keys by."""
    params, keyed = _keyed_params(callee)
    given = dict(zip(params, call.args, strict=False))
    given |= {k.arg: k.value for k in call.keywords if k.arg is not None}
    return {
        value.value
        for name, value in given.items()
        if name in keyed and isinstance(value, ast.Constant) and isinstance(value.value, str)
    }


def _loop_names(tree: ast.AST, env: dict[str, Any]) -> set[str]:
    """The strings a loop (or comprehension) iterates over to read keys by its variable."""
    out: set[str] = set()
    for node in _nodes(tree):
        loops: list[tuple[ast.expr, ast.expr, ast.AST]] = []
        if isinstance(node, ast.For):
            loops.append((node.target, node.iter, node))
        elif isinstance(node, ast.GeneratorExp | ast.ListComp | ast.SetComp | ast.DictComp):
            loops += [(g.target, g.iter, node) for g in node.generators]
        for target, source, body in loops:
            if isinstance(target, ast.Name) and target.id in _key_vars(body):
                out |= _strings(source, env)
    return out


def _strings(node: ast.expr, env: dict[str, Any]) -> set[str]:
    """The strings of a literal tuple, list or set, or of a module's collection by name."""
    values: Any = ()
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
    elif isinstance(node, ast.Name) and isinstance(
        env.get(node.id), tuple | list | set | frozenset
    ):
        values = env[node.id]
    return {v for v in values if isinstance(v, str)}


def _resolve(node: ast.expr, env: dict[str, Any]) -> Callable[..., Any] | None:
    """The API function a call names (``f`` or ``module.f``), if it is one of ours."""
    target: Any = None
    if isinstance(node, ast.Name):
        target = env.get(node.id)
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        module = env.get(node.value.id)
        target = getattr(module, node.attr, None) if inspect.ismodule(module) else None
    if inspect.isfunction(target) and target.__module__.split(".")[0] == "api":
        return target
    return None
