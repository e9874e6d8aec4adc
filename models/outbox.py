"""What the outboxes (webhook deliveries, mails) share: when a row is the sweeper's to send."""

from __future__ import annotations

from datetime import datetime, timedelta

from pony import orm

PENDING = "pending"


def due(entity, now: datetime, grace: float, limit: int) -> list[int]:
    """Ids of `entity` rows due for `grace` seconds that no live lease holds, oldest first.

    `entity` has `status`, `next_attempt_at` and `locked_until`: a row waits for
    its task while it is pending and not yet `grace` seconds overdue, and belongs
    to a worker while `locked_until` is ahead.
    """
    cutoff = now - timedelta(seconds=grace)
    rows = orm.select(
        (row.next_attempt_at, row.id)
        for row in entity
        if row.status == PENDING
        and row.next_attempt_at <= cutoff
        and (row.locked_until is None or row.locked_until <= now)
    ).order_by(1)[:limit]
    return [row_id for _due, row_id in rows]
