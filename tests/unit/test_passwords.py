"""Passwords are hashed with argon2id at RFC 9106's recommended cost, and a hash is checked
at the cost it records, whatever the hasher in use."""

from __future__ import annotations

import subprocess
import sys

from argon2 import PasswordHasher

from nimbus import passwords

STRONG_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


def test_the_strong_hasher_is_argon2id_at_the_recommended_cost() -> None:
    assert passwords.STRONG.hash("s3cret").startswith(STRONG_PREFIX)


def test_the_cloud_hashes_with_the_strong_hasher() -> None:
    """A fresh interpreter, as ``nimbus up`` and the API run, hashes at the strong cost:
    only the test suite's conftest lowers it."""
    code = "from nimbus.passwords import hash_password; print(hash_password('s3cret'))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.startswith(STRONG_PREFIX)


def test_a_hash_is_checked_at_the_cost_it_records() -> None:
    strong = passwords.STRONG.hash("s3cret")
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("s3cret")
    for stored in (strong, cheap):
        assert passwords.verify_password(stored, "s3cret")
        assert not passwords.verify_password(stored, "wrong")
    assert not passwords.verify_password("not a hash", "s3cret")
