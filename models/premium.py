"""Whether a user has premium (Cloud sync, unlimited cards): decided by their subscription."""

from __future__ import annotations

from datetime import datetime

from models.subscriptions import current_end_date


def premium_until(user) -> datetime | None:
    """End of the user's current premium period, or None without one.

    Premium lasts exactly while a subscription is current: active,
    past due (the renewal is being retried), or canceled but not yet ended.
    """
    return current_end_date(user.id)
