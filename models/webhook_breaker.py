"""The circuit breaker of each webhook endpoint: pause one that keeps failing, probe, disable.

An endpoint whose attempts fail `failures` times in a row is paused: nothing
is sent to it (its deliveries wait, and an attempt is counted only when made)
until the pause is over. Then one attempt probes it: a success closes the
breaker, a failure pauses it again for twice as long, up to `max_pause`. An
endpoint that has not answered one attempt with success for `disable_after`
seconds is disabled. An admin may resume it at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from models.clock import rfc3339
from models.webhooks import HALF_OPEN, OPEN, WebhookEndpoint


@dataclass(frozen=True)
class Breaker:
    failures: int  # failed attempts in a row that pause an endpoint
    pause: float  # seconds of the first pause; each pause in a row doubles it
    max_pause: float
    disable_after: float  # seconds of failing, without one success, that disable it

    def room(self, state: str, per_endpoint: int) -> int:
        """Attempts an endpoint in `state` may have in flight: none if paused, one probe after."""
        if state == OPEN:
            return 0
        return 1 if state == HALF_OPEN else per_endpoint

    def pause_for(self, pauses: int) -> float:
        return min(self.pause * 2 ** (pauses - 1), self.max_pause)

    def succeeded(self, endpoint: WebhookEndpoint) -> bool:
        """Count a successful attempt; returns whether it ended a pause (closing the breaker)."""
        paused = bool(endpoint.pauses)
        if endpoint.consecutive_failures or endpoint.pauses or endpoint.failing_since:
            endpoint.reset_breaker()
        return paused

    def failed(
        self, endpoint: WebhookEndpoint, started_at: datetime, now: datetime
    ) -> float | None:
        """Count a failed attempt; returns the seconds of the pause it starts, if it starts one."""
        since = endpoint.failing_since or started_at
        endpoint.set(consecutive_failures=endpoint.consecutive_failures + 1, failing_since=since)
        if not endpoint.enabled:
            return None
        if now - since >= timedelta(seconds=self.disable_after):
            days = self.disable_after / 86400
            endpoint.disable(f"Every attempt failed for {days:g} days (since {rfc3339(since)})")
            return None
        state = endpoint.breaker_state(now)
        if state == OPEN:  # an attempt made before the pause began
            return None
        if state == HALF_OPEN or endpoint.consecutive_failures >= self.failures:
            pauses = endpoint.pauses + 1
            seconds = self.pause_for(pauses)
            endpoint.set(pauses=pauses, paused_until=now + timedelta(seconds=seconds))
            return seconds
        return None
