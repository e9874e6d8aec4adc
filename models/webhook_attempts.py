"""Webhook attempts: what one came to, recorded for a batch, and when the next one is due."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from models import db
from models.clock import utcnow
from models.webhook_breaker import Breaker
from models.webhook_claims import (
    Claim,
    bound,
    column_uuid,
    execute,
    lock_endpoints,
    sql_uuid,
)
from models.webhooks import (
    FAILED,
    MANUAL,
    PENDING,
    RESPONSE_BODY_LIMIT,
    SCHEDULED,
    WebhookDelivery,
)

JITTER = 0.2  # each wait is stretched by up to 20%, so failed receivers are not hit in lockstep
MAX_RETRY_AFTER = 24 * 3600


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt came to."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    body: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def response_text(head: bytes) -> str | None:
    """The start of a receiver's answer as an attempt keeps it."""
    if not head:
        return None
    # Postgres text cannot hold NUL; undecodable bytes become U+FFFD.
    return head.decode("utf-8", "replace").replace("\x00", "\ufffd")[:RESPONSE_BODY_LIMIT]


@dataclass
class Settled:
    """What recording a batch decided.

    `retries`: {delivery id: seconds to its next attempt}; `pauses`: {endpoint:
    seconds of the pause it just began}; `places`: {endpoint: attempts finished},
    the places they leave for its next due deliveries; `closed`: endpoints whose
    breaker a success just closed, which may have more attempts in flight now.
    """

    retries: dict[int, float] = field(default_factory=dict)
    pauses: dict[uuid.UUID, float] = field(default_factory=dict)
    places: dict[uuid.UUID, int] = field(default_factory=dict)
    closed: list[uuid.UUID] = field(default_factory=list)


def record_attempts(
    results: list[tuple[Claim, Outcome]], schedule: tuple[int, ...], breaker: Breaker
) -> Settled:
    """Store each attempt, settle its delivery, and move its endpoint's breaker.

    The common case, success at a healthy endpoint, costs a few statements for
    the whole batch and locks no endpoint; failures are settled one by one.
    """
    settled = Settled()
    if not results:
        return settled
    for claim, _outcome in results:
        settled.places[claim.endpoint_id] = settled.places.get(claim.endpoint_id, 0) + 1
    failing = {c.endpoint_id for c, outcome in results if not outcome.succeeded}
    healthy = [e for e in settled.places if e not in failing]
    # Locked: endpoints whose breaker moves (counting a failure, or reset by a success).
    endpoints = lock_endpoints(failing | set(_with_failures(healthy)))
    _insert_attempts(results)
    now = utcnow()
    succeeded = [claim for claim, outcome in results if outcome.succeeded]
    if succeeded and db.provider.dialect == "PostgreSQL":
        execute(
            "UPDATE webhook_deliveries AS d"
            " SET status = 'succeeded', succeeded_at = $now, next_attempt_at = NULL,"
            " locked_until = NULL, lease_token = NULL, manual_requested = $no"
            " FROM unnest($ids::int[], $tokens::text[]) AS s(id, token)"
            " WHERE d.id = s.id AND d.lease_token = s.token",
            {
                "now": now,
                "no": False,
                "ids": [claim.delivery_id for claim in succeeded],
                "tokens": [claim.lease_token for claim in succeeded],
            },
        )
    elif succeeded:
        params: dict = {"now": now, "no": False}
        pairs = []
        for n, claim in enumerate(succeeded):
            params[f"id{n}"], params[f"token{n}"] = claim.delivery_id, claim.lease_token
            pairs.append(f"($id{n}, $token{n})")
        # Only under our own lease: if it ran out and another worker took over, that one settles.
        execute(
            "UPDATE webhook_deliveries"  # noqa: S608
            " SET status = 'succeeded', succeeded_at = $now, next_attempt_at = NULL,"
            " locked_until = NULL, lease_token = NULL, manual_requested = $no"
            f" WHERE (id, lease_token) IN (VALUES {', '.join(pairs)})",
            params,
        )
    for claim, outcome in sorted(results, key=lambda result: result[1].started_at):
        endpoint = endpoints.get(claim.endpoint_id)
        if endpoint is None:
            continue
        if outcome.succeeded:
            if breaker.succeeded(endpoint):
                settled.closed.append(endpoint.id)
        elif outcome.status_code == 410:
            endpoint.disable("The receiver answered 410 Gone")
        else:
            pause = breaker.failed(endpoint, outcome.started_at, now)
            if pause is not None:
                settled.pauses[endpoint.id] = pause
    failed = [(claim, outcome) for claim, outcome in results if not outcome.succeeded]
    if failed:
        ids = [claim.delivery_id for claim, _outcome in failed]
        found = {d.id: d for d in WebhookDelivery.select(lambda d: d.id in ids)}
        for claim, outcome in failed:
            delivery = found.get(claim.delivery_id)
            if delivery is None or delivery.lease_token != claim.lease_token:
                continue
            wait = _settle_failure(delivery, claim, outcome, schedule, now)
            if wait is not None:
                settled.retries[delivery.id] = wait
    return settled


def _with_failures(endpoint_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Those of these endpoints whose breaker has counted failures (read, not locked)."""
    if not endpoint_ids:
        return []
    placeholders, params = bound("e", [sql_uuid(e) for e in endpoint_ids])
    rows = execute(
        f"SELECT id FROM webhook_endpoints WHERE id IN ({placeholders})"  # noqa: S608
        " AND (consecutive_failures > 0 OR pauses > 0 OR failing_since IS NOT NULL)",
        params,
    ).fetchall()
    return [column_uuid(row[0]) for row in rows]


_ATTEMPT_COLUMNS = (
    "delivery",
    "number",
    "trigger",
    "started_at",
    "duration_ms",
    "status_code",
    "error",
    "response_body",
    "succeeded",
)


def _insert_attempts(results: list[tuple[Claim, Outcome]]) -> None:
    """One multi-row INSERT for the batch's attempts."""
    params: dict = {}
    rows = []
    for n, (claim, outcome) in enumerate(results):
        values = (
            claim.delivery_id,
            claim.number,
            claim.trigger,
            outcome.started_at,
            outcome.duration_ms,
            outcome.status_code,
            outcome.error[:500] if outcome.error else None,
            outcome.body,
            outcome.succeeded,
        )
        names = [f"{column}{n}" for column in _ATTEMPT_COLUMNS]
        params.update(zip(names, values, strict=True))
        rows.append("(" + ", ".join("$" + name for name in names) + ")")
    columns = ", ".join(f'"{column}"' for column in _ATTEMPT_COLUMNS)
    execute(
        f"INSERT INTO webhook_attempts ({columns}) VALUES {', '.join(rows)}",  # noqa: S608
        params,
    )


def _settle_failure(
    delivery: WebhookDelivery,
    claim: Claim,
    outcome: Outcome,
    schedule: tuple[int, ...],
    now: datetime,
) -> float | None:
    delivery.set(locked_until=None, lease_token=None, manual_requested=False)
    wait = None
    if delivery.endpoint.enabled:  # not disabled by this answer or its breaker
        wait = _next_wait(delivery, claim.trigger, schedule, outcome.retry_after)
    if wait is None:
        delivery.set(status=FAILED, next_attempt_at=None)
        return None
    delivery.set(status=PENDING, next_attempt_at=now + timedelta(seconds=wait))
    return wait


def _next_wait(
    delivery: WebhookDelivery, trigger: str, schedule: tuple[int, ...], retry_after: float | None
) -> float | None:
    if trigger == MANUAL and delivery.succeeded_at is not None:
        return None  # a replay of a delivered event is a single attempt
    # The schedule counts scheduled attempts only: a manual one neither uses nor adds a retry.
    made = delivery.attempts.select(lambda a: a.trigger == SCHEDULED).count()
    index = max(made, 1) - 1
    if index >= len(schedule):
        return None
    wait = schedule[index] * random.uniform(1, 1 + JITTER)
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
    return wait
