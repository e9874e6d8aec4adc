"""Renewal passes: claim a due period (one transaction), charge (none), settle (another).

A period whose charge is out (`charging`), by another pass or one that died
before recording the outcome, is not charged again: the provider's webhook
settles it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pony import orm

from models.payment_gateway import ChargeOutcome
from models.payments import CHARGING, FAILED, PENDING, RENEWAL, RETRY, IdempotencyRecord, Payment
from models.subscriptions import (
    ACTIVE,
    CANCELED,
    PAST_DUE,
    Subscription,
    expire,
    settle,
    start_attempt,
)
from models.users import User

log = logging.getLogger(__name__)

# Renewals charge this long before the period ends, so that premium never lapses.
RENEW_AHEAD = timedelta(hours=1)


@dataclass(frozen=True)
class RenewalClaim:
    """A charge that may now be made: everything the gateway needs, as plain values."""

    subscription_id: str
    payment_id: str
    charge: dict


def expire_ended(as_of: datetime) -> int:
    """Canceled subscriptions whose paid period is over become expired."""
    ended = Subscription.select(lambda s: s.status == CANCELED and s.end_date <= as_of).for_update(
        skip_locked=True
    )
    count = 0
    for sub in ended:
        expire(sub, as_of)
        count += 1
    return count


def due_renewals(as_of: datetime, limit: int = 500) -> list[str]:
    """Ids of subscriptions a renewal pass at `as_of` should try to charge."""
    horizon = as_of + RENEW_AHEAD
    due = orm.select(
        (s.id, s.end_date)
        for s in Subscription
        if s.auto_renew
        and (
            (s.status == ACTIVE and s.end_date <= horizon)
            or (s.status == PAST_DUE and s.next_retry_at <= as_of)
        )
    ).order_by(2)
    return [str(sub_id) for sub_id, _ in due.limit(limit)]


def claim_renewal(subscription_id: str, as_of: datetime) -> RenewalClaim | None:
    """Lock the subscription and take this period's charge, unless it is taken or not due."""
    sub = (
        Subscription.select(lambda s: s.id == uuid.UUID(subscription_id))
        .for_update(skip_locked=True)
        .first()
    )
    if sub is None or not _is_due(sub, as_of):
        return None
    user = User.get(id=sub.user_id)
    if user is None:
        # The account is gone (Money For Rabbit withdrawal): nobody to charge.
        expire(sub, as_of)
        return None
    record = IdempotencyRecord.get(key=sub.renewal_key())
    if record is not None and record.state != FAILED:
        if record.state == CHARGING:
            log.warning("renewal %s is still charging; waiting for its outcome", record.key)
        return None
    if sub.next_period_end() <= as_of:
        _restart_at(sub, as_of)
        record = None  # the charge is keyed by the new end: nothing is recorded for it yet
    kind = RENEWAL if sub.status == ACTIVE else RETRY
    payment = start_attempt(sub, kind, record)
    return RenewalClaim(str(sub.id), str(payment.id), payment.charge_args(sub.customer_id, user))


def settle_renewal(
    claim: RenewalClaim, outcome: ChargeOutcome, as_of: datetime, schedule: tuple[int, ...]
) -> None:
    """Record the charge's outcome and apply it, unless a webhook already did."""
    sub = Subscription.get_for_update(id=uuid.UUID(claim.subscription_id))
    payment = Payment[uuid.UUID(claim.payment_id)]
    if payment.status != PENDING:
        return
    settle(sub, payment, outcome, as_of, schedule, dunning=True)


def _restart_at(sub: Subscription, as_of: datetime) -> None:
    """Renewals were missed for a whole period or more: the next period starts now.

    The pass did not run (beat stopped, payments not configured) while the
    subscription stayed premium. Charging the period after the paid one would bill
    the customer for time already gone, and each later pass for one more missed
    period. A customer who never canceled expects to keep the subscription and to
    pay for time still to come: the missed time is written off, and the charge
    about to be made pays for a period from `as_of`, as a new subscription would.
    """
    now = as_of.replace(microsecond=0)
    sub.set(end_date=now, anchor=now, periods=0)


def _is_due(sub: Subscription, as_of: datetime) -> bool:
    if not sub.auto_renew:
        return False
    if sub.status == ACTIVE:
        return sub.end_date <= as_of + RENEW_AHEAD
    if sub.status == PAST_DUE:
        return sub.next_retry_at is not None and sub.next_retry_at <= as_of
    return False
