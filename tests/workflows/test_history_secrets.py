"""The recorded histories (what the Temporal UI shows of an operation of every type) hold
no secret: not the passwords the suites that recorded them log in with, nor any field of
an input or a result whose name says it holds a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.histories import HISTORIES
from tests.support.leaks import leaks, readable, secret_fields

RECORDED = sorted(HISTORIES.glob("*.json"))
#: The seeded users' passwords (``tests.support.stack.seed``).
PASSWORDS = {f"{user}'s password": f"{user}-secret" for user in ("admin", "alice", "rita", "bob")}


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_a_recorded_history_holds_no_secret(path: Path) -> None:
    text = path.read_text()
    assert leaks(PASSWORDS, {path.name: readable(text)}) == []
    assert secret_fields(text) == []


def test_a_secret_in_a_payload_is_found_though_the_json_holds_it_encoded() -> None:
    history = '{"events": [{"input": {"payloads": [{"metadata": {}, "data": "%s"}]}}]}'
    encoded = history % "eyJwYXNzd29yZCI6ICJhZG1pbi1zZWNyZXQifQ=="  # {"password": "admin-secret"}
    assert "admin-secret" not in encoded
    assert leaks(PASSWORDS, {"h": readable(encoded)}) == ["admin's password in h"]
    assert secret_fields(encoded) == ["password = admin-secret"]
