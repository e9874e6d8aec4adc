"""The outbox of webhook deliveries: written with their event, swept when due, retried by hand.

A worker claims due deliveries on a lease (models.webhook_claims), sends them
outside any transaction, and records the attempts (models.webhook_attempts).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from pony import orm

from models import db
from models.clock import utcnow
from models.errors import Conflict, NotFound
from models.events import Event
from models.tasks import send_after_commit
from models.webhooks import PENDING, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# Deliveries per task sent at commit: an event's endpoints, in one task or a few.
BATCH_SIZE = 64


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


def count_due(now: datetime) -> int:
    """Deliveries whose next attempt is due: the outbox's backlog, in flight ones included."""
    return orm.count(d for d in WebhookDelivery if d.status == PENDING and d.next_attempt_at <= now)


def request_retry(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now (a replay if it was done); the attempt is marked manual."""
    if not 0 < delivery_id < 2**63:  # ids are 64-bit: the database takes no larger number
        raise NotFound("Delivery not found")
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
