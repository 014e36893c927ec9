"""Login throttling against password guessing, as Keystone's ``lockout_failure_attempts``
and ``lockout_duration`` do it.

Each wrong password a user's name is tried with counts; once ``lockout_failure_attempts``
have failed in a row, each within ``lockout_duration_seconds`` of the one before, the
user's password is refused without being checked until that long after the last failure
(with no duration: until an admin sets the password or enables the user). A locked user
is answered as a wrong password is, so the lock tells a guesser nothing; attempts during
the lock do not count (it ends when it would have). A right password ends the count.

The count lives in the user's row, updated in one statement, so that every process of
the API sees one count. Only failures write: a burst of right logins (clients in
parallel) never locks anyone out.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import ColumnElement, case, or_, select, update

from nimbus.config import Settings
from nimbus.db import Database, User, utcnow
from nimbus.passwords import verify_password
from observability import metrics

log = logging.getLogger(__name__)


def check_password(db: Database, settings: Settings, user: User, password: str) -> bool:
    """Whether ``password`` is ``user``'s and the user is not locked out; counts a wrong
    one, and clears the count on a right one. ``user`` is the row as just read."""
    now = utcnow()
    if locked(settings, user.failed_auth_count, user.failed_auth_at, now):
        log.info("refused a password for user %s (%s): locked out", user.name, user.id)
        return False
    if verify_password(user.password_hash, password):
        if user.failed_auth_count:
            _clear(db, user.id)
        return True
    if settings.lockout_failure_attempts:
        _count_failure(db, settings, user, now)
    return False


def locked(settings: Settings, failures: int, last: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether ``failures`` in a row, the last at ``last``, lock the user out at ``now``."""
    attempts, duration = settings.lockout_failure_attempts, settings.lockout_duration_seconds
    if not attempts or failures < attempts:
        return False
    return not duration or last is None or now < last + dt.timedelta(seconds=duration)


def unlock(user: User) -> None:
    """Clear the count (an admin set the user's password or enabled it); the caller commits."""
    user.failed_auth_count, user.failed_auth_at = 0, None


def _clear(db: Database, user_id: str) -> None:
    with db.session() as s:
        s.execute(
            update(User).where(User.id == user_id).values(failed_auth_count=0, failed_auth_at=None)
        )


def _count_failure(db: Database, settings: Settings, user: User, now: dt.datetime) -> None:
    """One more failure; the count starts again if the last one is older than the lock's
    duration (so also once the lock it set is over). Logs and counts the failure that
    locks."""
    restart: ColumnElement[bool] = User.failed_auth_at.is_(None)
    if settings.lockout_duration_seconds:
        window = now - dt.timedelta(seconds=settings.lockout_duration_seconds)
        restart = or_(restart, User.failed_auth_at < window)
    count = case((restart, 1), else_=User.failed_auth_count + 1)
    with db.session() as s:
        s.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_auth_count=count, failed_auth_at=now)
        )
        failures = s.scalar(select(User.failed_auth_count).where(User.id == user.id))
    if failures == settings.lockout_failure_attempts:
        metrics.LOGIN_LOCKOUTS.inc()
        duration = settings.lockout_duration_seconds
        log.warning(
            "user %s (%s) locked out %s after %d wrong passwords in a row",
            user.name,
            user.id,
            f"for {duration} s" if duration else "until an admin unlocks it",
            failures,
        )
