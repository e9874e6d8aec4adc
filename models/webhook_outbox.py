"""The outbox of webhook deliveries: written with their event, swept when due, claimed on a lease.

A worker claims due deliveries with a conditional UPDATE (a lease), as far as
each endpoint may have more attempts in flight and its circuit breaker lets it,
sends them outside any transaction, and records the attempts
(models.webhook_attempts). A live lease is an attempt in flight.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pony import orm

from models import db
from models.clock import utcnow
from models.crypto import decrypt
from models.errors import Conflict, NotFound
from models.events import Event, payload
from models.tasks import send_after_commit
from models.webhook_breaker import Breaker
from models.webhooks import FAILED, MANUAL, PENDING, SCHEDULED, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5  # seconds to connect to a receiver
ATTEMPT_TIMEOUT = 15  # seconds for one attempt, connecting and answering together
# Deliveries per task sent at commit: an event's endpoints, a few tasks at most.
BATCH_SIZE = 16
# A claim outlives any attempt and its recording; only a worker that died lets it
# run out, and then the sweeper hands the delivery to another.
LEASE_SECONDS = 2 * ATTEMPT_TIMEOUT


def enqueue_deliveries(event: Event) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint subscribed to the event; a task per batch of them."""
    endpoints = WebhookEndpoint.select(lambda e: e.enabled and e.deleted_at is None)
    deliveries = [
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            message_id=f"msg_{uuid.uuid4().hex}",
            next_attempt_at=event.created_at,
        )
        for endpoint in endpoints
        if event.type in endpoint.events
    ]
    if deliveries:
        orm.flush()  # the ids the tasks carry
        ids = [delivery.id for delivery in deliveries]
        for start in range(0, len(ids), BATCH_SIZE):
            _send_after_commit(ids[start : start + BATCH_SIZE])
    return deliveries


def _send_after_commit(delivery_ids: list[int]) -> None:
    try:
        send_after_commit("webhooks.deliver", delivery_ids=delivery_ids)
    except RuntimeError:
        # Not inside transaction() (a bare db_session): the sweeper sends them instead.
        log.info("deliveries %s left to the sweeper", delivery_ids)


def endpoints_with_due(now: datetime, grace: float) -> list[uuid.UUID]:
    """Endpoints, not paused, with a delivery due for `grace` seconds that no live lease holds."""
    cutoff = now - timedelta(seconds=grace)
    return orm.select(
        e.id
        for e in WebhookEndpoint
        if e.enabled
        and e.deleted_at is None
        and (e.paused_until is None or e.paused_until <= now)
        and orm.exists(
            d
            for d in e.deliveries
            if d.status == PENDING
            and d.next_attempt_at <= cutoff
            and (d.locked_until is None or d.locked_until <= now)
        )
    )[:]


def request_retry(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now (a replay if it was done); the attempt is marked manual."""
    owner = orm.select(d.endpoint.id for d in WebhookDelivery if d.id == delivery_id).first()
    if owner != endpoint.id:
        raise NotFound("Delivery not found")
    if not endpoint.enabled:
        raise Conflict(f"The webhook is disabled: {endpoint.disabled_reason}", key="disabled")
    now = utcnow()
    # Conditional, like a claim: never under the feet of a worker holding the lease.
    won = db.execute(
        "UPDATE webhook_deliveries"
        " SET status = 'pending', next_attempt_at = $now, manual_requested = $manual"
        " WHERE id = $delivery_id AND (locked_until IS NULL OR locked_until <= $now)",
        {"now": now, "manual": True, "delivery_id": delivery_id},
    ).rowcount
    if won != 1:
        raise Conflict("An attempt of this delivery is in progress", key="in_flight")
    _send_after_commit([delivery_id])
    return WebhookDelivery[delivery_id]


# --- One attempt: claim, then record ---


@dataclass(frozen=True)
class Claim:
    """What a worker needs to make one attempt, read in the claiming transaction."""

    delivery_id: int
    lease_token: str
    message_id: str
    endpoint_id: uuid.UUID
    url: str
    secret: str
    body: bytes
    number: int
    trigger: str


@dataclass(frozen=True)
class Limits:
    """Attempts in flight an endpoint may have, over all workers, and its breaker's say."""

    per_endpoint: int
    breaker: Breaker


def claim(delivery_ids: list[int], encryption_key: bytes, limits: Limits, most: int) -> list[Claim]:
    """Lease up to `most` of these deliveries: those due, not held, whose endpoint has room."""
    ids = sorted({int(delivery_id) for delivery_id in delivery_ids})
    if not ids or most < 1:
        return []
    endpoints = lock_endpoints(orm.select(d.endpoint.id for d in WebhookDelivery if d.id in ids)[:])
    now = utcnow()
    candidates = orm.select(
        (d.id, d.endpoint.id)
        for d in WebhookDelivery
        if d.id in ids
        and d.status == PENDING
        and d.next_attempt_at <= now
        and (d.locked_until is None or d.locked_until <= now)
    ).order_by(1)[:]
    return _lease(candidates, _room(endpoints, limits, now), encryption_key, most, now)


def claim_due(
    endpoint_ids: list[uuid.UUID], encryption_key: bytes, limits: Limits, most: int
) -> list[Claim]:
    """Lease up to `most` due deliveries of these endpoints, oldest first, as each has room."""
    if not endpoint_ids or most < 1:
        return []
    endpoints = lock_endpoints(endpoint_ids)
    now = utcnow()
    room = _room(endpoints, limits, now)
    candidates = []
    for endpoint_id, free in room.items():
        if free < 1:
            continue
        due = orm.select(
            (d.next_attempt_at, d.id)
            for d in WebhookDelivery
            if d.endpoint.id == endpoint_id
            and d.status == PENDING
            and d.next_attempt_at <= now
            and (d.locked_until is None or d.locked_until <= now)
        ).order_by(1, 2)[:free]
        candidates += [(delivery_id, endpoint_id) for _due, delivery_id in due]
    return _lease(candidates, room, encryption_key, most, now)


def lock_endpoints(endpoint_ids) -> dict[uuid.UUID, WebhookEndpoint]:
    """The endpoints, locked in a fixed order for the rest of the transaction.

    Claims and records for one endpoint so take turns, each seeing the leases
    and breaker of the one before. Every transaction that locks endpoints does
    so first, in this order, so none waits for another in a circle. PostgreSQL:
    FOR NO KEY UPDATE, which leaves alone the transactions that only add
    deliveries (their foreign key check takes KEY SHARE). SQLite: the
    transaction begins IMMEDIATE, holding the database's write lock.
    """
    ids = sorted(set(endpoint_ids))
    query = WebhookEndpoint.select(lambda e: e.id in ids)
    if db.provider.dialect == "PostgreSQL":
        placeholders, params = bound("e", ids)
        db.execute(
            f"SELECT id FROM webhook_endpoints WHERE id IN ({placeholders})"  # noqa: S608
            " ORDER BY id FOR NO KEY UPDATE",
            params,
        )
    else:
        query = query.for_update()
    return {endpoint.id: endpoint for endpoint in query}


def _room(
    endpoints: dict[uuid.UUID, WebhookEndpoint], limits: Limits, now: datetime
) -> dict[uuid.UUID, int]:
    """Attempts each endpoint may still start now: its limit less its live leases."""
    ids = list(endpoints)
    in_flight = dict(
        orm.select(
            (d.endpoint.id, orm.count(d))
            for d in WebhookDelivery
            if d.endpoint.id in ids and d.locked_until > now
        )
    )
    return {
        endpoint_id: limits.breaker.room(endpoint, limits.per_endpoint, now)
        - in_flight.get(endpoint_id, 0)
        for endpoint_id, endpoint in endpoints.items()
        if endpoint.enabled and endpoint.deleted_at is None
    }


def _lease(
    candidates: list[tuple[int, uuid.UUID]],
    room: dict[uuid.UUID, int],
    encryption_key: bytes,
    most: int,
    now: datetime,
) -> list[Claim]:
    """Take one lease on the candidates their endpoints have `room` for; read what to send.

    Deliveries of a disabled or deleted endpoint (not in `room`) are closed
    instead. The conditional UPDATE stays the arbiter: of two workers handed
    the same delivery (a redelivered task, a sweep) exactly one gets it.
    """
    chosen, closed = [], []
    for delivery_id, endpoint_id in candidates:
        if endpoint_id not in room:
            closed.append(delivery_id)
        elif room[endpoint_id] > 0 and len(chosen) < most:
            room[endpoint_id] -= 1
            chosen.append(delivery_id)
    if closed:
        for delivery in WebhookDelivery.select(lambda d: d.id in closed):
            delivery.set(status=FAILED, next_attempt_at=None)
    if not chosen:
        return []
    token = secrets.token_hex(16)
    placeholders, ids = bound("id", chosen)
    db.execute(
        "UPDATE webhook_deliveries"  # noqa: S608
        " SET locked_until = $until, lease_token = $token, attempt_count = attempt_count + 1"
        f" WHERE id IN ({placeholders}) AND status = 'pending'"
        " AND (locked_until IS NULL OR locked_until <= $now)",
        {"until": now + timedelta(seconds=LEASE_SECONDS), "token": token, "now": now, **ids},
    )
    # One query for everything the attempts need, as values: no entity loads one by one.
    rows = orm.select(
        (
            d.id,
            d.message_id,
            d.attempt_count,
            d.manual_requested,
            d.endpoint.id,
            d.endpoint.url,
            d.endpoint.secret_encrypted,
            d.event.id,
            d.event.type,
            d.event.created_at,
            d.event.data,
        )
        for d in WebhookDelivery
        if d.id in chosen and d.lease_token == token
    ).order_by(1)
    claims = []
    secrets_of: dict[uuid.UUID, str] = {}
    bodies: dict[uuid.UUID, bytes] = {}
    for row in rows:
        delivery_id, message_id, number, manual, endpoint_id, url, secret = row[:7]
        event_id, event_type, created_at, data = row[7:]
        if endpoint_id not in secrets_of:
            secrets_of[endpoint_id] = decrypt(secret, encryption_key)
        if event_id not in bodies:
            body = json.dumps(
                payload(event_id, event_type, created_at, data),
                separators=(",", ":"),
                ensure_ascii=False,
            )
            bodies[event_id] = body.encode()
        claims.append(
            Claim(
                delivery_id=delivery_id,
                lease_token=token,
                message_id=message_id,
                endpoint_id=endpoint_id,
                url=url,
                secret=secrets_of[endpoint_id],
                body=bodies[event_id],
                number=number,
                trigger=MANUAL if manual else SCHEDULED,
            )
        )
    return claims


def bound(prefix: str, values: list) -> tuple[str, dict]:
    """`$prefix0, $prefix1, ...` for raw SQL, with the values they bind: never values in SQL."""
    params = {f"{prefix}{n}": value for n, value in enumerate(values)}
    return ", ".join("$" + name for name in params), params
