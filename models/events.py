"""Domain events (the seed's webhook payload), written in the transaction that caused them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pony import orm

from models import db
from models.clock import rfc3339, utcnow

EVENT_TYPES = (
    "user.created",
    "subscription.created",
    "subscription.canceled",
    "subscription.renewed",
    "subscription.expired",
    "card.shared",
)


class Event(db.Entity):
    _table_ = "events"

    id = orm.PrimaryKey(uuid.UUID, default=uuid.uuid4)
    type = orm.Required(str, 64)
    created_at = orm.Required(datetime, default=utcnow)
    data = orm.Required(orm.Json)
    deliveries = orm.Set("WebhookDelivery", cascade_delete=True)

    def payload(self) -> dict:
        return payload(self.id, self.type, self.created_at, self.data)


def payload(event_id: uuid.UUID, event_type: str, created_at: datetime, data: dict) -> dict:
    """The body receivers get: {id, type, created_at, data}."""
    return {
        "id": f"evt_{event_id.hex}",
        "type": event_type,
        "created_at": rfc3339(created_at),
        "data": data,
    }


def emit(event_type: str, data: dict) -> Event:
    """Record an event in the current transaction, with its outbox of webhook deliveries.

    `data` must hold no secrets. The deliveries are written here, in the caller's
    transaction, and their tasks are sent once it commits.
    """
    # Imported here: the outbox builds on this module's Event and EVENT_TYPES.
    from models.webhook_outbox import enqueue_deliveries

    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event = Event(type=event_type, data=data)
    enqueue_deliveries(event)
    return event
