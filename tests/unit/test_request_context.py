"""The request id carried into workflows: a workflow coroutine closed by the garbage
collector after its worker dropped it runs its ``finally`` outside the context that set
the id, and must not raise there (an exception in a finalizer lands in whatever the
interpreter was doing, an ``ast.parse`` included)."""

from __future__ import annotations

import contextvars
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import temporalio.converter

from observability.context import HEADER, REQUEST_ID, _taken

CONVERTER = temporalio.converter.default().payload_converter


class _Suspend:
    def __await__(self) -> Generator[None, None, None]:
        yield


async def _run(seen: list[str | None]) -> None:
    headers = {HEADER: CONVERTER.to_payload("req-1")}
    with _taken(SimpleNamespace(headers=headers), CONVERTER):
        seen.append(REQUEST_ID.get())
        await _Suspend()


def test_the_id_is_set_in_the_block_and_restored_after() -> None:
    seen: list[str | None] = []
    coro = _run(seen)
    context = contextvars.copy_context()
    context.run(coro.send, None)
    assert seen == ["req-1"]
    try:
        context.run(coro.send, None)
    except StopIteration:
        pass
    assert context.run(REQUEST_ID.get) is None


def test_a_coroutine_closed_outside_its_context_raises_nothing() -> None:
    seen: list[str | None] = []
    coro: Any = _run(seen)
    contextvars.copy_context().run(coro.send, None)
    assert seen == ["req-1"]
    coro.close()  # as the garbage collector does: GeneratorExit, here, in another context
    assert REQUEST_ID.get() is None
