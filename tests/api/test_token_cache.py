"""Checked access tokens are remembered per process, but never past their expiry."""

from __future__ import annotations

import time
from datetime import datetime

import jwt
import pytest

from api.auth import RABBIT, ZELLYY, TokenService
from models.errors import AuthenticationFailed

KEY = "token-cache-test-key-of-enough-length-0123456789"


def _token(ttl: int, key: str = KEY, **changes) -> str:
    now = int(time.time())
    claims = {
        "sub": "someone",
        "aud": ZELLYY,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": "a-jti",
        "sid": "a-session",
        "type": "access",
        **changes,
    }
    return jwt.encode(claims, key, algorithm="HS256")


def _travel(monkeypatch, seconds: float) -> None:
    """Move both our clock and PyJWT's forward."""
    later = time.time() + seconds
    real_datetime = datetime

    class Later(real_datetime):
        @classmethod
        def now(cls, tz=None):
            return real_datetime.fromtimestamp(later, tz)

    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)


def test_a_token_is_checked_once_then_remembered():
    tokens = TokenService(KEY, {ZELLYY: 3600})
    token = _token(3600)
    assert tokens.verify_access(token, ZELLYY)["sub"] == "someone"
    assert tokens.verify_access(token, ZELLYY)["sub"] == "someone"
    info = tokens._verified_access.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch):
    tokens = TokenService(KEY, {ZELLYY: 3600})
    token = _token(60)
    tokens.verify_access(token, ZELLYY)
    _travel(monkeypatch, 120)
    with pytest.raises(AuthenticationFailed) as ex:
        tokens.verify_access(token, ZELLYY)
    assert ex.value.key == "expired"


def test_a_remembered_token_still_answers_for_one_audience_only():
    tokens = TokenService(KEY, {ZELLYY: 3600})
    token = _token(3600)
    tokens.verify_access(token, ZELLYY)
    with pytest.raises(AuthenticationFailed):
        tokens.verify_access(token, RABBIT)


@pytest.mark.parametrize(
    "token",
    [
        _token(3600, key="another-key-of-enough-length-0123456789abcdef"),
        _token(3600, type="refresh"),
        _token(-60),
    ],
    ids=["wrong key", "not an access token", "expired"],
)
def test_refused_tokens_are_refused_every_time(token):
    tokens = TokenService(KEY, {ZELLYY: 3600})
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            tokens.verify_access(token, ZELLYY)
    assert tokens._verified_access.cache_info().currsize == 0


def test_callers_cannot_change_what_is_remembered():
    tokens = TokenService(KEY, {ZELLYY: 3600})
    token = _token(3600)
    tokens.verify_access(token, ZELLYY)["sub"] = "someone else"
    assert tokens.verify_access(token, ZELLYY)["sub"] == "someone"
