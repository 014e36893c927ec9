"""Login throttling (``api.identity.lockout``): too many wrong passwords in a row lock a
user's password out for a while, answered as a wrong password is, in every API process."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.identity.lockout import locked
from nimbus.client import password_auth
from nimbus.config import Settings
from nimbus.db import User
from tests.support.identity import IdentityApp, identity_app

TOKENS = "/identity/v3/auth/tokens"
ATTEMPTS = 3


@pytest.fixture
def idp(tmp_path: Path, database_url: str) -> Iterator[IdentityApp]:
    yield from identity_app(tmp_path, database_url=database_url, lockout_failure_attempts=ATTEMPTS)


def _login(idp: IdentityApp, password: str, user: str = "alice") -> Any:
    return idp.client.post(TOKENS, json=password_auth(user, password, "demo"))


def _guess(idp: IdentityApp, times: int = ATTEMPTS, user: str = "alice") -> Any:
    answers = [_login(idp, "guess", user) for _ in range(times)]
    assert {a.status_code for a in answers} == {401}
    return answers[-1]


def _age_failures(idp: IdentityApp, seconds: float) -> None:
    """As if the user's last failure were ``seconds`` older."""
    with idp.db.session() as s:
        alice = s.scalars(select(User).where(User.name == "alice")).one()
        assert alice.failed_auth_at is not None
        alice.failed_auth_at -= dt.timedelta(seconds=seconds)


def test_after_too_many_wrong_passwords_the_right_one_is_refused_too(idp: IdentityApp) -> None:
    wrong = _guess(idp)
    refused = _login(idp, "alice-secret")
    assert refused.status_code == 401
    assert refused.json == wrong.json  # the lock tells a guesser nothing
    assert _login(idp, "bob-secret", "bob").status_code == 401  # other project: not bob's
    assert (
        idp.client.post(TOKENS, json=password_auth("bob", "bob-secret", "other")).status_code == 201
    )


def test_fewer_wrong_passwords_than_the_limit_lock_nothing(idp: IdentityApp) -> None:
    _guess(idp, ATTEMPTS - 1)
    assert _login(idp, "alice-secret").status_code == 201


def test_a_right_password_starts_the_count_again(idp: IdentityApp) -> None:
    _guess(idp, ATTEMPTS - 1)
    assert _login(idp, "alice-secret").status_code == 201
    _guess(idp, ATTEMPTS - 1)
    assert _login(idp, "alice-secret").status_code == 201


def test_the_lock_ends_after_its_duration(idp: IdentityApp) -> None:
    _guess(idp)
    _age_failures(idp, idp.settings.lockout_duration_seconds - 5)
    assert _login(idp, "alice-secret").status_code == 401
    _age_failures(idp, 10)
    assert _login(idp, "alice-secret").status_code == 201


def test_guesses_during_the_lock_do_not_extend_it(idp: IdentityApp) -> None:
    _guess(idp)
    _age_failures(idp, idp.settings.lockout_duration_seconds - 5)
    _guess(idp)
    _age_failures(idp, 10)
    assert _login(idp, "alice-secret").status_code == 201


def test_wrong_passwords_far_apart_do_not_add_up(idp: IdentityApp) -> None:
    _guess(idp, ATTEMPTS - 1)
    _age_failures(idp, idp.settings.lockout_duration_seconds + 1)
    _guess(idp, ATTEMPTS - 1)
    assert _login(idp, "alice-secret").status_code == 201


def test_every_api_process_sees_the_lock(idp: IdentityApp, tmp_path: Path) -> None:
    other = identity_app(
        tmp_path / "other", database_url=idp.settings.db_url, lockout_failure_attempts=ATTEMPTS
    )
    second = next(other)
    _guess(idp)
    assert _login(second, "alice-secret").status_code == 401
    other.close()


def test_an_admin_setting_the_password_unlocks(idp: IdentityApp) -> None:
    _guess(idp)
    alice = idp.call("GET", "/users?name=alice").json["users"][0]
    reset = idp.call("PATCH", f"/users/{alice['id']}", json={"user": {"password": "fresh"}})
    assert reset.status_code == 200
    assert _login(idp, "fresh").status_code == 201


def test_guessing_the_original_password_of_a_change_counts(idp: IdentityApp) -> None:
    token = idp.token("alice")
    alice = idp.call("GET", "/users?name=alice").json["users"][0]
    change = {"user": {"original_password": "guess", "password": "mine"}}
    for _ in range(ATTEMPTS):
        answer = idp.client.post(
            f"/identity/v3/users/{alice['id']}/password",
            json=change,
            headers={"X-Auth-Token": token},
        )
        assert answer.status_code == 401
    assert _login(idp, "alice-secret").status_code == 401


def test_the_lock_is_logged_once_and_the_attempts_audited(
    idp: IdentityApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="api.identity.lockout"):
        _guess(idp, ATTEMPTS + 1)
    locks = [r for r in caplog.records if "locked out for" in r.getMessage()]
    assert len(locks) == 1 and "alice" in locks[0].getMessage()
    assert "guess" not in caplog.text
    audit = idp.client.get("/audit/v1/events?status=401", headers=idp.headers())
    events = audit.json["events"]
    assert [e["user_name"] for e in events] == ["alice"] * (ATTEMPTS + 1)


def test_no_attempts_setting_turns_the_lockout_off(tmp_path: Path, database_url: str) -> None:
    off = identity_app(tmp_path, database_url=database_url, lockout_failure_attempts=0)
    idp = next(off)
    _guess(idp, 10)
    assert _login(idp, "alice-secret").status_code == 201
    off.close()


def test_no_duration_locks_until_an_admin_unlocks() -> None:
    forever = Settings(lockout_failure_attempts=3, lockout_duration_seconds=0)
    long_ago, now = dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1)
    assert locked(forever, 3, long_ago, now)
    assert not locked(forever, 2, long_ago, now)
