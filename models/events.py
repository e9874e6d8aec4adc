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

    def payload(self) -> dict:
        """The body receivers get: {id, type, created_at, data}."""
        return {
            "id": f"evt_{self.id.hex}",
            "type": self.type,
            "created_at": rfc3339(self.created_at),
            "data": self.data,
        }


def emit(event_type: str, data: dict) -> Event:
    """Record an event in the current transaction. `data` must hold no secrets."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return Event(type=event_type, data=data)
