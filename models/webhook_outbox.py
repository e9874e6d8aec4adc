"""The outbox of webhook deliveries: written with their event, swept when due, claimed on a lease.

A worker claims due deliveries, a batch at a time, with a conditional UPDATE (a
lease), sends them outside any transaction, and records the attempts
(models.webhook_attempts).
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pony import orm

from models import db, outbox
from models.clock import utcnow
from models.crypto import decrypt
from models.errors import Conflict, NotFound
from models.events import Event, payload
from models.tasks import send_after_commit
from models.webhooks import FAILED, MANUAL, PENDING, SCHEDULED, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

ATTEMPT_TIMEOUT = 15  # seconds for one attempt, connecting and answering together
# Deliveries per task: a worker sends one batch's in parallel, so a batch takes
# about one attempt's time however many endpoints an event has.
BATCH_SIZE = 8
# A claim outlives any batch; only a worker that died lets it run out, and then
# the sweeper hands the delivery to another.
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


def due_deliveries(now: datetime, grace: float, limit: int = 1000) -> list[int]:
    """Deliveries due for `grace` seconds that no live lease holds, oldest first."""
    return outbox.due(WebhookDelivery, now, grace, limit)


def count_due(now: datetime) -> int:
    """Deliveries whose next attempt is due: the outbox's backlog, in flight ones included."""
    return orm.count(d for d in WebhookDelivery if d.status == PENDING and d.next_attempt_at <= now)


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
    url: str
    secret: str
    body: bytes
    number: int
    trigger: str


def claim(delivery_ids: list[int], encryption_key: bytes) -> list[Claim]:
    """Take one lease on those of these deliveries that are due, not done, and not held.

    The conditional UPDATE is the arbiter: of two workers handed the same
    delivery (a redelivered task, a sweep) exactly one gets it.
    """
    now = utcnow()
    token = secrets.token_hex(16)
    ids = {f"id{n}": int(delivery_id) for n, delivery_id in enumerate(delivery_ids)}
    if not ids:
        return []
    placeholders = ", ".join("$" + name for name in ids)  # bound parameters, not values
    won = db.execute(
        "UPDATE webhook_deliveries"  # noqa: S608
        " SET locked_until = $until, lease_token = $token, attempt_count = attempt_count + 1"
        f" WHERE id IN ({placeholders}) AND status = 'pending' AND next_attempt_at <= $now"
        " AND (locked_until IS NULL OR locked_until <= $now)",
        {"until": now + timedelta(seconds=LEASE_SECONDS), "token": token, "now": now, **ids},
    ).rowcount
    if not won:
        return []
    id_list = list(ids.values())
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
            d.endpoint.enabled and d.endpoint.deleted_at is None,
            d.event.id,
            d.event.type,
            d.event.created_at,
            d.event.data,
        )
        for d in WebhookDelivery
        if d.id in id_list and d.lease_token == token
    ).order_by(1)
    claims = []
    secrets_of: dict[uuid.UUID, str] = {}
    bodies: dict[uuid.UUID, bytes] = {}
    for row in rows:
        delivery_id, message_id, number, manual, endpoint_id, url, secret, active = row[:8]
        event_id, event_type, created_at, data = row[8:]
        if not active:
            WebhookDelivery[delivery_id].set(
                status=FAILED,
                next_attempt_at=None,
                locked_until=None,
                lease_token=None,
                attempt_count=number - 1,
            )
            continue
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
                url=url,
                secret=secrets_of[endpoint_id],
                body=bodies[event_id],
                number=number,
                trigger=MANUAL if manual else SCHEDULED,
            )
        )
    return claims
