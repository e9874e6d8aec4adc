"""Subscriptions and their periods: the current one, the next one paid, dunning, expiry, cancel.

Charges go through the domain's PaymentGateway (models.payment_gateway). Each
period's charge has an idempotency record, so that a period is charged once
however many requests and renewal passes try.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from pony import orm

from models import db
from models.clock import rfc3339, utcnow
from models.errors import NotFound
from models.events import emit
from models.payment_gateway import ChargeOutcome
from models.payments import CHARGING, FAILED, SUCCEEDED, IdempotencyRecord, Payment
from models.plans import PLANS, Plan, add_intervals
from models.users import User

log = logging.getLogger(__name__)

ACTIVE, PAST_DUE, CANCELED, EXPIRED = "active", "past_due", "canceled", "expired"
HELD = (ACTIVE, PAST_DUE)  # at most one of these per user
CANCEL_MESSAGE = "Subscription will be active until the end date"


class BillingCustomer(db.Entity):
    """The user's customer at the payment provider, created once per user."""

    _table_ = "billing_customers"

    user_id = orm.PrimaryKey(int)
    provider = orm.Required(str, 16)
    customer_id = orm.Required(str, 255, unique=True)
    created_at = orm.Required(datetime, default=utcnow)


class Subscription(db.Entity):
    _table_ = "subscriptions"

    id = orm.PrimaryKey(uuid.UUID, default=uuid.uuid4)
    user_id = orm.Required(int, index=True)
    plan_id = orm.Required(str, 16)
    status = orm.Required(str, 16)
    auto_renew = orm.Required(bool, default=True)
    # The current period; renewal dates count from the anchor (Jan 31 → Feb 29 → Mar 31).
    start_date = orm.Required(datetime)
    end_date = orm.Required(datetime)
    anchor = orm.Required(datetime)
    periods = orm.Required(int, default=1)
    provider = orm.Required(str, 16)
    customer_id = orm.Required(str, 255)
    payment_method_id = orm.Required(str, 255)
    payment_id = orm.Optional(str, 255, nullable=True)  # the last successful charge
    failed_attempts = orm.Required(int, default=0)  # failed renewals of the current period
    next_retry_at = orm.Optional(datetime)
    canceled_at = orm.Optional(datetime)
    expired_at = orm.Optional(datetime)
    created_at = orm.Required(datetime, default=utcnow)
    updated_at = orm.Required(datetime, default=utcnow)
    payments = orm.Set(Payment)
    orm.composite_index(status, end_date)

    def before_update(self):
        self.updated_at = utcnow()

    @property
    def plan(self) -> Plan:
        return PLANS[self.plan_id]

    def next_period_end(self) -> datetime:
        return add_intervals(self.anchor, self.plan.interval, self.periods + 1)

    def renewal_key(self) -> str:
        return f"renewal:{self.id}:{rfc3339(self.end_date)}"

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "plan_id": self.plan_id,
            "status": self.status,
            "start_date": rfc3339(self.start_date),
            "end_date": rfc3339(self.end_date),
            "auto_renew": self.auto_renew,
            "payment_provider": self.provider,
            "payment_id": self.payment_id,
        }

    def cancel_dict(self) -> dict:
        return {
            "id": str(self.id),
            "status": self.status,
            "end_date": rfc3339(self.end_date),
            "message": CANCEL_MESSAGE,
        }


def current_subscription(user_id: int, now: datetime | None = None) -> Subscription | None:
    """The subscription that gives premium now: active, past due, or canceled but not ended."""
    sub_id = current_id(user_id, now or utcnow())
    return Subscription[sub_id] if sub_id else None


def current_end_date(user_id: int, now: datetime | None = None) -> datetime | None:
    """End of the current subscription's period (see current_subscription), or None; one query."""
    row = _current_row(user_id, now or utcnow())
    return row[2] if row else None


def current_id(user_id: int, now: datetime) -> uuid.UUID | None:
    # Ids only: a caller that locks the row next must not have read it unlocked first.
    row = _current_row(user_id, now)
    return row[0] if row else None


def _current_row(user_id: int, now: datetime) -> tuple | None:
    """(id, status, end_date) of the current subscription; by the user_id index."""
    rows = orm.select(
        (s.id, s.status, s.end_date)
        for s in Subscription
        if s.user_id == user_id
        and (s.status in HELD or (s.status == CANCELED and s.end_date > now))
    )[:]
    # Held ones first (there is at most one), then the canceled one that ends last.
    return min(rows, key=lambda row: (row[1] not in HELD, -row[2].timestamp()), default=None)


def event_data(sub: Subscription) -> dict:
    user = User.get(id=sub.user_id)
    return {**sub.to_dict(), "user_id": str(user.public_id) if user else None}


def cancel(user: User) -> Subscription:
    """Stop renewing; premium lasts until the end of the paid period."""
    lock_user(user)
    sub = (
        Subscription.select(lambda s: s.user_id == user.id and s.status in HELD)
        .for_update()
        .first()
    )
    if sub is None:
        raise NotFound("You have no subscription to cancel", key="no_subscription")
    sub.set(status=CANCELED, auto_renew=False, canceled_at=utcnow(), next_retry_at=None)
    emit("subscription.canceled", event_data(sub))
    return sub


def lock_user(user: User) -> None:
    # One billing change per user at a time: two sign-ups at once would both pass
    # the "already subscribed" check. On SQLite this starts an IMMEDIATE transaction.
    # Only the id is selected, so the user read at authentication is not re-read.
    orm.select(u.id for u in User if u.id == user.id).for_update()[:]


# --- Periods: a charge for the next one, and what its outcome does ---


def start_attempt(sub: Subscription, kind: str, record: IdempotencyRecord | None) -> Payment:
    """A pending ledger row for the period after `end_date`, and the record marked charging."""
    key = sub.renewal_key()
    if record is None:
        record = IdempotencyRecord(key=key, state=CHARGING)
    record.state = CHARGING
    record.attempts += 1
    payment = Payment(
        user_id=sub.user_id,
        subscription=sub,
        plan_id=sub.plan_id,
        kind=kind,
        amount=sub.plan.amount,
        currency=sub.plan.currency,
        provider=sub.provider,
        payment_method_id=sub.payment_method_id,
        idempotency_key=f"{key}:{record.attempts}",
        period_start=sub.end_date,
        period_end=sub.next_period_end(),
    )
    record.last_payment_id = payment.id
    return payment


def settle(
    sub: Subscription,
    payment: Payment,
    outcome: ChargeOutcome,
    as_of: datetime,
    schedule: tuple[int, ...],
    *,
    dunning: bool,
) -> None:
    """Record a charge: success pays the next period; failure, when dunning, retries or expires."""
    payment.record(outcome)
    record = IdempotencyRecord.get(key=f"renewal:{sub.id}:{rfc3339(payment.period_start)}")
    if outcome.succeeded:
        if record is not None:
            record.state = SUCCEEDED
        _extend(sub, payment)
        return
    if record is not None:
        record.state = FAILED
    if not dunning or sub.status not in HELD or sub.end_date != payment.period_start:
        return
    sub.failed_attempts += 1
    if sub.failed_attempts > len(schedule):
        expire(sub, as_of)
        return
    wait = timedelta(days=schedule[sub.failed_attempts - 1])
    sub.set(status=PAST_DUE, next_retry_at=as_of + wait)


def _extend(sub: Subscription, payment: Payment) -> None:
    """The paid period follows the old one; only ever after a successful charge."""
    if sub.end_date != payment.period_start:
        return  # this period was applied already
    if sub.status == EXPIRED:
        log.warning("payment %s succeeded for expired subscription %s", payment.id, sub.id)
        return
    sub.set(
        start_date=payment.period_start,
        end_date=payment.period_end,
        periods=sub.periods + 1,
        payment_id=payment.provider_id,
        failed_attempts=0,
        next_retry_at=None,
    )
    if sub.status == PAST_DUE:
        sub.status = ACTIVE
    emit("subscription.renewed", event_data(sub))


def expire(sub: Subscription, as_of: datetime) -> None:
    sub.set(status=EXPIRED, auto_renew=False, expired_at=as_of, next_retry_at=None)
    emit("subscription.expired", event_data(sub))
