"""Password hashing with argon2id: passwords are never stored or logged in clear."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: argon2-cffi's defaults, RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
#: A hash records its own parameters, so ``verify`` checks any hash at the cost it was made.
STRONG = PasswordHasher()

_hasher = STRONG


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash new passwords with ``hasher`` from now on. Only the test suite calls this, to
    make the thousands of throw-away users it seeds cheap; the cloud always uses ``STRONG``."""
    global _hasher
    _hasher = hasher


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches; never raises for a wrong one."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
