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
        storage_options: dict | None = None,
    ):
        self._limiter = MovingWindowRateLimiter(
            storage_from_string(storage_url, **(storage_options or {}))
        )
        self._per_email = parse(per_email)
        self._per_ip = parse(per_ip)
        self._prefix = prefix
        self._trusted = {p.strip() for p in trusted_proxies.split(",") if p.strip()}
        self._store_failed_at = -STORE_PAUSE

    def check(self, req: falcon.Request, email: str | None = None) -> None:
        """Count one auth attempt; raise RateLimited once either limit is used up."""
        if not self._hit(self._per_ip, "ip", self.client_ip(req)):
            return  # the store is unavailable: not waited for twice
        if email:
            # A digest, so that the shared store holds no list of addresses.
            key = hashlib.sha256(email_key(email).encode()).hexdigest()[:32]
            self._hit(self._per_email, "email", key)

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
        """Count one hit; False when the store did not answer (each call is bounded), or
        failed less than STORE_PAUSE seconds ago and is not asked again yet."""
        if time.monotonic() - self._store_failed_at < STORE_PAUSE:
            return False
        try:
            allowed = self._limiter.hit(item, self._prefix, kind, value)
            if allowed:
                return True
            reset_at = self._limiter.get_window_stats(item, self._prefix, kind, value).reset_time
        except Exception as ex:
            # A limiter outage must not lock every user out; it is logged instead.
            log.warning("rate limiter unavailable; allowing requests: %r", ex)
            self._store_failed_at = time.monotonic()
            return False
        raise RateLimited(retry_after=max(1, math.ceil(reset_at - time.time())))
