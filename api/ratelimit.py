"""Login and sign-up rate limits per client IP and per email, with the `limits` library."""

from __future__ import annotations

import hashlib
import logging
import math
import time

import falcon
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from models.errors import RateLimited
from models.users import email_key

log = logging.getLogger(__name__)
# After the store fails, requests are let through without asking it for so long.
STORE_PAUSE = 5.0


class AuthRateLimiter:
    """Redis-backed when REDIS_URL is set (shared by every process), in memory otherwise."""

    def __init__(
        self,
        storage_url: str,
        per_email: str,
        per_ip: str,
        prefix: str = "rl",
        trusted_proxies: str = "127.0.0.1",
        per_mail: str = "5/hour",
        storage_options: dict | None = None,
    ):
        self._limiter = MovingWindowRateLimiter(
            storage_from_string(storage_url, **(storage_options or {}))
        )
        self._per_email = parse(per_email)
        self._per_ip = parse(per_ip)
        self._per_mail = parse(per_mail)
        self._prefix = prefix
        self._trusted = {p.strip() for p in trusted_proxies.split(",") if p.strip()}
        self._store_failed_at = -STORE_PAUSE

    def check(self, req: falcon.Request, email: str | None = None) -> None:
        """Count one auth attempt; raise RateLimited once either limit is used up."""
        if not self._hit(self._per_ip, "ip", self.client_ip(req)):
            return  # the store is unavailable: not waited for twice
        if email:
            self._hit(self._per_email, "email", _digest(email))

    def allow_mail(self, email: str) -> bool:
        """Count one mail asked for to `email`; False once its limit is used up.

        The caller then sends nothing and answers as usual: a refusal would tell
        which addresses have accounts.
        """
        return not self._wait(self._per_mail, "mail", _digest(email))

    def client_ip(self, req: falcon.Request) -> str:
        """The caller's address: behind a trusted proxy, the nearest untrusted hop it saw.

        Only hops added by our own proxies are believed; anything further left in
        X-Forwarded-For is the client's to forge.
        """
        addr = req.remote_addr or "unknown"
        if "*" not in self._trusted and addr not in self._trusted:
            return addr
        hops = [h.strip() for h in req.get_header("X-Forwarded-For", default="").split(",")]
        for hop in reversed([h for h in hops if h]):
            # "*" trusts the one proxy in front of us: the hop it added is the client.
            if "*" in self._trusted or hop not in self._trusted:
                return hop
        return addr

    def _hit(self, item, kind: str, value: str) -> bool:
        """Count one hit; raise RateLimited once the limit is used up; False when the store
        is unavailable (allowed: an outage must not lock every user out)."""
        wait = self._wait(item, kind, value)
        if wait:
            raise RateLimited(retry_after=wait)
        return wait is not None

    def _wait(self, item, kind: str, value: str) -> int | None:
        """Count one hit: 0 if allowed, else the seconds until one would be; None when the
        store did not answer (each call is bounded) or failed less than STORE_PAUSE
        seconds ago and is not asked again yet."""
        if time.monotonic() - self._store_failed_at < STORE_PAUSE:
            return None
        try:
            if self._limiter.hit(item, self._prefix, kind, value):
                return 0
            reset_at = self._limiter.get_window_stats(item, self._prefix, kind, value).reset_time
        except Exception as ex:
            log.warning("rate limiter unavailable; allowing requests: %r", ex)
            self._store_failed_at = time.monotonic()
            return None
        return max(1, math.ceil(reset_at - time.time()))


def _digest(email: str) -> str:
    # A digest, so that the shared store holds no list of addresses.
    return hashlib.sha256(email_key(email).encode()).hexdigest()[:32]
