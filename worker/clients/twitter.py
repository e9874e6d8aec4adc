"""X (Twitter) API v2: who owns a token, posting a tweet, and refreshing OAuth 2.0 tokens."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import requests

from worker.clients.social import Adapter, Outcome, Post, Result, classify

MAX_WEIGHT = 280
ELLIPSIS = "…"
# twitter-text v3: code points in these ranges count once, every other one twice.
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


class Twitter(Adapter):
    name = "twitter"

    def identify(self, token: str) -> str:
        return self.get_identity("users/me", token, lambda body: body["data"]["id"])

    def publish(self, post: Post) -> Result:
        body = self.call(
            "POST", "tweets", post.token, sends=True, json={"text": fit(post.prefix, post.content)}
        )
        data = body.get("data")
        tweet_id = data.get("id") if isinstance(data, dict) else None
        if not tweet_id:
            raise Outcome(Result("unconfirmed", detail="answer without a tweet id"))
        return Result.ok(str(tweet_id), f"https://x.com/i/web/status/{tweet_id}")


def weight(text: str) -> int:
    """The length X counts: most Latin characters 1, Hangul, CJK and emoji 2."""
    return sum(_char_weight(c) for c in unicodedata.normalize("NFC", text))


def fit(prefix: str, body: str, limit: int = MAX_WEIGHT) -> str:
    """`prefix + body`, with `body` cut and ended with an ellipsis so the whole fits `limit`."""
    text = unicodedata.normalize("NFC", prefix + body)
    if weight(text) <= limit:
        return text
    prefix = unicodedata.normalize("NFC", prefix)
    budget = limit - weight(ELLIPSIS) - weight(prefix)
    if budget <= 0:  # the message alone is too long: cut everything
        prefix, body, budget = "", text, limit - weight(ELLIPSIS)
    kept = []
    for char in unicodedata.normalize("NFC", body):
        budget -= _char_weight(char)
        if budget < 0:
            break
        kept.append(char)
    return prefix + "".join(kept).rstrip() + ELLIPSIS


def _char_weight(char: str) -> int:
    point = ord(char)
    return 1 if any(lo <= point <= hi for lo, hi in _LIGHT_RANGES) else 2


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_in: int | None


class RefreshRefused(Exception):
    """X refused the refresh token: the user has to connect again."""


class RefreshUnavailable(Exception):
    """X did not answer the refresh properly; try again on the next run."""


def refresh(base_url: str, client_id: str, refresh_token: str, *, timeout=10) -> Tokens:
    """Trade a refresh token for new tokens (OAuth 2.0, public client)."""
    try:
        response = requests.post(
            f"{base_url.rstrip('/')}/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id,
            },
            timeout=timeout,
        )
    except requests.RequestException as ex:
        raise RefreshUnavailable(type(ex).__name__) from None
    failure = classify(response)
    if failure is not None:
        if failure.kind in ("unauthorized", "bad_request"):
            raise RefreshRefused(failure.detail)
        raise RefreshUnavailable(failure.detail)
    try:
        body = response.json()
        access_token = body["access_token"]
    except (ValueError, KeyError, TypeError):
        raise RefreshUnavailable("answer without an access token") from None
    expires_in = body.get("expires_in")
    return Tokens(
        access_token=str(access_token),
        refresh_token=body.get("refresh_token") or refresh_token,
        expires_in=int(expires_in) if isinstance(expires_in, int | float) else None,
    )
