"""The subscription plans, and the calendar arithmetic of their periods."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    description: str
    amount: int  # cents
    currency: str  # ISO 4217, lower case as Stripe takes it
    interval: str  # month | year
    features: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "price": self.amount / 100,
            "currency": self.currency.upper(),
            "interval": self.interval,
            "features": list(self.features),
        }


PLANS = {
    plan.id: plan
    for plan in (
        Plan(
            "monthly",
            "Monthly Premium",
            "Monthly subscription with cloud sync",
            499,
            "usd",
            "month",
            ("Cloud sync", "Unlimited cards", "Premium templates"),
        ),
        Plan(
            "yearly",
            "Yearly Premium",
            "Yearly subscription with cloud sync (save 20%)",
            4799,
            "usd",
            "year",
            ("Cloud sync", "Unlimited cards", "Premium templates", "Priority support"),
        ),
    )
}


def add_intervals(anchor: datetime, interval: str, count: int) -> datetime:
    """`anchor` plus `count` calendar months or years; the day is clamped to the month's end."""
    months = count * (12 if interval == "year" else 1)
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def plan_list() -> list[dict]:
    return [plan.to_dict() for plan in PLANS.values()]
