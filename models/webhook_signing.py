"""Standard Webhooks secrets and signatures: the whsec_ format, the HMAC, the signed headers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from models.errors import InvalidInput

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def secret_key(secret: str) -> bytes:
    """The HMAC key: a whsec_ secret's base64-decoded bytes, any other secret's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :].rstrip("=")
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    return secret.encode()


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


def check_secret(secret: str) -> None:
    try:
        key = secret_key(secret)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "Invalid webhook secret",
            details={"secret": "A whsec_ secret must be base64 after the prefix"},
        ) from None
    if not key:
        raise InvalidInput("Invalid webhook secret", details={"secret": "Must not be empty"})
