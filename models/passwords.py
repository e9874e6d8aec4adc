"""Password hashing with argon2id."""

from __future__ import annotations

import os

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with the RFC 9106 low-memory profile (64 MiB, 3 passes). The test
# suite signs up thousands of users on two cores, so APP_ENV=test uses the
# cheapest parameters; the parameters travel inside each hash, so any hash
# verifies under either.
_hasher = (
    PasswordHasher.from_parameters(profiles.CHEAPEST)
    if os.environ.get("APP_ENV") == "test"
    else PasswordHasher()
)
# Verified when the account does not exist, so a wrong email costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
