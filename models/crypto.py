"""Encryption at rest for secrets we must use later (webhook secrets, social tokens)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken


class DecryptionError(Exception):
    """A stored secret could not be decrypted (wrong ENCRYPTION_KEY, or tampered)."""


@lru_cache(maxsize=4)
def _fernet(key: bytes) -> Fernet:
    try:
        if len(base64.urlsafe_b64decode(key)) == 32:
            return Fernet(key)
    except (binascii.Error, ValueError):
        pass
    # Any other ENCRYPTION_KEY string is stretched into a Fernet key.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))


def encrypt(plaintext: str, key: bytes) -> str:
    return _fernet(key).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str, key: bytes) -> str:
    try:
        return _fernet(key).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "stored secret cannot be decrypted with this ENCRYPTION_KEY"
        ) from None
