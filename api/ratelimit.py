"""Login and sign-up rate limits per client IP and per email, with the `limits` library."""

from __future__ import annotations

import logging
import math
import time

import falcon
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from models.errors import RateLimited

log = logging.getLogger(__name__)


class AuthRateLimiter:
    """Redis-backed when REDIS_URL is set (shared by every process), in memory otherwise."""

    def __init__(self, storage_url: str, per_email: str, per_ip: str, prefix: str = "rl"):
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))
        self._per_email = parse(per_email)
        self._per_ip = parse(per_ip)
        self._prefix = prefix

    def check(self, req: falcon.Request, email: str | None = None) -> None:
        """Count one auth attempt; raise RateLimited once either limit is used up."""
        self._hit(self._per_ip, "ip", req.remote_addr or "unknown")
        if email:
            self._hit(self._per_email, "email", email.strip().lower())

    def _hit(self, item, kind: str, value: str) -> None:
        try:
            allowed = self._limiter.hit(item, self._prefix, kind, value)
            if allowed:
                return
            reset_at = self._limiter.get_window_stats(item, self._prefix, kind, value).reset_time
        except Exception:
            # A limiter outage must not lock every user out; it is logged loudly instead.
            log.exception("rate limiter unavailable; allowing the request")
            return
        raise RateLimited(retry_after=max(1, math.ceil(reset_at - time.time())))
