"""Whether a user has premium (Cloud sync, unlimited cards): decided by their subscription."""

from __future__ import annotations

from datetime import datetime


def premium_until(user) -> datetime | None:
    """End of the user's current premium period, or None without one.

    Subscriptions (DESIGN §9) decide this; until they exist nobody is premium.
    """
    return None
