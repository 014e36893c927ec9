"""Console log helpers shared by the hypervisor drivers."""

from __future__ import annotations


def last_lines(text: str, max_lines: int | None) -> str:
    """The last ``max_lines`` lines of ``text`` (all of it if ``None``)."""
    if max_lines is None:
        return text
    if max_lines <= 0:
        return ""
    return "".join(text.splitlines(keepends=True)[-max_lines:])
