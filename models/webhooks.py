"""Webhook endpoints and the rows of their deliveries and attempts: registering, listing, deleting.

An event writes one delivery row per subscribed endpoint (models.webhook_outbox);
a worker claims due deliveries, sends them outside any transaction, and records
the attempts, which decide what follows (models.webhook_attempts) and move the
endpoint's circuit breaker (models.webhook_breaker).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

from pony import orm

from models import db
from models.clock import rfc3339, utcnow
from models.crypto import encrypt
from models.errors import InvalidInput, NotFound
from models.events import EVENT_TYPES, Event
from models.tasks import send_after_commit
from models.url_safety import check_url
from models.webhook_signing import check_secret

RESPONSE_BODY_LIMIT = 1024  # characters of the answer kept with each attempt
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
SCHEDULED, MANUAL = "scheduled", "manual"
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
SEND_DUE_TASK = "webhooks.send_due"


def breaker_state(paused_until: datetime | None, pauses: int, now: datetime) -> str:
    """An endpoint's breaker: closed (sending), open (paused), half_open (one attempt may probe)."""
    if paused_until is not None and paused_until > now:
        return OPEN
    return HALF_OPEN if pauses else CLOSED


class WebhookEndpoint(db.Entity):
    _table_ = "webhook_endpoints"

    id = orm.PrimaryKey(uuid.UUID, default=uuid.uuid4)
    url = orm.Required(str, 2048)
    events = orm.Required(orm.Json)
    # Fernet ciphertext of the secret, decrypted only to sign; emptied on delete.
    secret_encrypted = orm.Optional(str, 1024)
    enabled = orm.Required(bool, default=True)
    disabled_reason = orm.Optional(str, 255, nullable=True)
    created_at = orm.Required(datetime, default=utcnow)
    deleted_at = orm.Optional(datetime)
    # The circuit breaker: failed attempts in a row and since when; while paused_until
    # is ahead nothing is sent; `pauses` in a row, each longer than the last.
    consecutive_failures = orm.Required(int, default=0, sql_default="0")
    failing_since = orm.Optional(datetime)
    paused_until = orm.Optional(datetime)
    pauses = orm.Required(int, default=0, sql_default="0")
    deliveries = orm.Set("WebhookDelivery")

    def breaker_state(self, now: datetime) -> str:
        """closed: sending; open: paused; half_open: the pause is over, one attempt may probe."""
        return breaker_state(self.paused_until, self.pauses, now)

    def reset_breaker(self) -> None:
        self.set(consecutive_failures=0, failing_since=None, paused_until=None, pauses=0)

    def disable(self, reason: str) -> None:
        """Send it nothing more; what waits for it fails (and can be retried by hand)."""
        self.set(enabled=False, disabled_reason=reason)
        close_pending(self)

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "url": self.url,
            "events": list(self.events),
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "breaker": {
                "state": self.breaker_state(utcnow()),
                "consecutive_failures": self.consecutive_failures,
                "failing_since": rfc3339(self.failing_since),
                "paused_until": rfc3339(self.paused_until),
            },
            "created_at": rfc3339(self.created_at),
        }


class WebhookDelivery(db.Entity):
    """One event for one endpoint: the unit that is retried, and what `webhook-id` names."""

    _table_ = "webhook_deliveries"

    id = orm.PrimaryKey(int, auto=True)
    endpoint = orm.Required(WebhookEndpoint)
    event = orm.Required(Event)
    message_id = orm.Required(str, 40, unique=True)
    status = orm.Required(str, 16, default=PENDING)
    next_attempt_at = orm.Optional(datetime)
    # The lease of the worker sending it now: no other claims it before locked_until.
    locked_until = orm.Optional(datetime)
    lease_token = orm.Optional(str, 32, nullable=True)
    manual_requested = orm.Required(bool, default=False)
    attempt_count = orm.Required(int, default=0)
    succeeded_at = orm.Optional(datetime)
    created_at = orm.Required(datetime, default=utcnow)
    attempts = orm.Set("WebhookAttempt", cascade_delete=True)
    orm.composite_key(endpoint, event)
    orm.composite_index(endpoint, id)  # an endpoint's deliveries, newest first
    # Partial, as the migrations make them (Pony cannot say so): what is due for one
    # endpoint (and the whole backlog), WHERE status = 'pending'; an endpoint's
    # attempts in flight, WHERE locked_until IS NOT NULL. A settled delivery is in neither.
    orm.composite_index(endpoint, status, next_attempt_at)
    orm.composite_index(endpoint, locked_until)

    def to_dict(self, attempts: list[WebhookAttempt]) -> dict:
        return {
            "id": self.id,
            "webhook_id": str(self.endpoint.id),
            "message_id": self.message_id,
            "event_id": f"evt_{self.event.id.hex}",
            "event_type": self.event.type,
            "status": self.status,
            "attempt_count": self.attempt_count,
            "next_attempt_at": rfc3339(self.next_attempt_at) if self.status == PENDING else None,
            "created_at": rfc3339(self.created_at),
            "attempts": [a.to_dict() for a in attempts],
        }


class WebhookAttempt(db.Entity):
    _table_ = "webhook_attempts"

    id = orm.PrimaryKey(int, auto=True)
    delivery = orm.Required(WebhookDelivery)
    number = orm.Required(int)
    trigger = orm.Required(str, 16)
    started_at = orm.Required(datetime)
    duration_ms = orm.Required(int)
    status_code = orm.Optional(int)
    error = orm.Optional(str, 500, nullable=True)
    response_body = orm.Optional(str, RESPONSE_BODY_LIMIT, nullable=True)
    succeeded = orm.Required(bool)

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "trigger": self.trigger,
            "attempted_at": rfc3339(self.started_at),
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "response_body": self.response_body,
            "succeeded": self.succeeded,
        }


def create_endpoint(
    url: str, events: list[str], secret: str, *, encryption_key: bytes, allow_private: bool
) -> WebhookEndpoint:
    check_url(url, allow_private=allow_private)
    check_secret(secret)
    unknown = [name for name in events if name not in EVENT_TYPES]
    if not events or unknown:
        raise InvalidInput(
            "Invalid event types",
            details={"events": "Must be a non-empty list of: " + ", ".join(EVENT_TYPES)},
        )
    return WebhookEndpoint(
        url=url,
        events=list(dict.fromkeys(events)),
        secret_encrypted=encrypt(secret, encryption_key),
    )


def list_endpoints() -> list[WebhookEndpoint]:
    return list(
        WebhookEndpoint.select(lambda e: e.deleted_at is None).order_by(
            orm.desc(WebhookEndpoint.created_at)
        )
    )


def get_endpoint(endpoint_id: str) -> WebhookEndpoint:
    try:
        key = uuid.UUID(endpoint_id)
    except ValueError:
        raise NotFound("Webhook not found") from None
    endpoint = WebhookEndpoint.get(id=key)
    if endpoint is None or endpoint.deleted_at is not None:
        raise NotFound("Webhook not found")
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Stop sending to it; its delivery history stays, its secret does not."""
    endpoint.set(deleted_at=utcnow(), enabled=False, secret_encrypted="")
    close_pending(endpoint)


def close_pending(endpoint: WebhookEndpoint) -> None:
    """Fail what waits for it; attempts in flight are settled by the worker making them."""
    now = utcnow()
    waiting = endpoint.deliveries.select(
        lambda d: d.status == PENDING and (d.locked_until is None or d.locked_until <= now)
    )
    for delivery in waiting:
        delivery.set(status=FAILED, next_attempt_at=None)


def resume_endpoint(endpoint: WebhookEndpoint) -> None:
    """Close its breaker (and enable it again if it was disabled); send what is due now."""
    endpoint.reset_breaker()
    endpoint.set(enabled=True, disabled_reason=None)
    send_after_commit(SEND_DUE_TASK, endpoint_id=str(endpoint.id))


def deliveries_page(endpoint: WebhookEndpoint, page: int, limit: int) -> tuple[list[dict], int]:
    """Newest first, each with its attempts; two queries besides the count."""
    query = WebhookDelivery.select(lambda d: d.endpoint == endpoint)
    total = query.count()
    rows = list(
        query.order_by(orm.desc(WebhookDelivery.id))
        .prefetch(WebhookDelivery.event)
        .page(page, limit)
    )
    attempts: dict[int, list[WebhookAttempt]] = defaultdict(list)
    if rows:
        ids = [d.id for d in rows]
        for attempt in WebhookAttempt.select(lambda a: a.delivery.id in ids).order_by(
            WebhookAttempt.number
        ):
            attempts[attempt.delivery.id].append(attempt)
    return [d.to_dict(attempts[d.id]) for d in rows], total
