"""``api.validation.digits``: the one check of a number given as text."""

from __future__ import annotations

from typing import Any

import pytest

from api.validation import MAX_DIGITS, digits


@pytest.mark.parametrize("value", ["0", "42", "9" * MAX_DIGITS])
def test_ascii_digits_are_digits(value: str) -> None:
    assert digits(value) and int(value) >= 0


@pytest.mark.parametrize(
    "value", ["\u00b2", "\u0663", "-1", "", " 1", "1.0", "9" * (MAX_DIGITS + 1), 7, None]
)
def test_anything_else_is_not(value: Any) -> None:
    assert not digits(value)
