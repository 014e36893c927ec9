"""Tokens, application credential secrets and generated passwords never begin with a dash,
which a command line would take for an option (``openstack token revoke -abc`` fails)."""

from __future__ import annotations

import datetime as dt
import secrets
from types import SimpleNamespace

import pytest

from nimbus import tokens


def test_a_draw_beginning_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["-starts-with-a-dash", "_fine"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(draws))
    assert tokens.cli_safe_secret(32) == "_fine"


def test_an_issued_token_never_begins_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["-the-first-draw", "the-token", "audit-id"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(draws))
    added: list[object] = []
    token, row = tokens.issue(
        SimpleNamespace(add=added.append),  # type: ignore[arg-type]
        "user-1",
        None,
        dt.timedelta(hours=1),
    )
    assert token == "the-token" and added == [row]
    assert row.token_hash == tokens.token_hash("the-token")
