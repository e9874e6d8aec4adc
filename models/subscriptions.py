"""Plans, subscriptions and their rules: subscribing, changing card, canceling, renewing, dunning.

Charges go through a payment gateway (worker.clients.stripe_client.StripeGateway,
or anything with its methods) that the caller passes in. Request-time charges
(subscribing, retrying with a new card) run inside the request's transaction
under a lock on the user; renewals are claimed, charged outside any
transaction, and settled (see worker.billing), with an idempotency record per
period so that a period is charged once however many passes run.
"""

from __future__ import annotations

import calendar
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pony import orm

from models import db
from models.clock import rfc3339, utcnow
from models.errors import Conflict, InvalidInput, NotFound
from models.events import emit
from models.payments import (
    CHARGING,
    FAILED,
    INITIAL,
    MANUAL_RETRY,
    PENDING,
    RENEWAL,
    RETRY,
    SUCCEEDED,
    IdempotencyRecord,
    Payment,
    PaymentFailed,
    ProviderEvent,
    find_payment,
)
from models.users import User

log = logging.getLogger(__name__)

ACTIVE, PAST_DUE, CANCELED, EXPIRED = "active", "past_due", "canceled", "expired"
HELD = (ACTIVE, PAST_DUE)  # at most one of these per user
CANCEL_MESSAGE = "Subscription will be active until the end date"
# Renewals charge this long before the period ends, so that premium never lapses.
RENEW_AHEAD = timedelta(hours=1)
PROCESSING_ERROR = "processing_error"


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


def add_intervals(anchor: datetime, interval: str, count: int) -> datetime:
    """`anchor` plus `count` calendar months or years; the day is clamped to the month's end."""
    months = count * (12 if interval == "year" else 1)
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def plan_list() -> list[dict]:
    return [plan.to_dict() for plan in PLANS.values()]


def current_subscription(user_id: int, now: datetime | None = None) -> Subscription | None:
    """The subscription that gives premium now: active, past due, or canceled but not ended."""
    sub_id = _current_id(user_id, now or utcnow())
    return Subscription[sub_id] if sub_id else None


def current_end_date(user_id: int, now: datetime | None = None) -> datetime | None:
    """End of the current subscription's period (see current_subscription), or None; one query."""
    row = _current_row(user_id, now or utcnow())
    return row[2] if row else None


def _current_id(user_id: int, now: datetime) -> uuid.UUID | None:
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


def _event_data(sub: Subscription) -> dict:
    user = User.get(id=sub.user_id)
    return {**sub.to_dict(), "user_id": str(user.public_id) if user else None}


# --- Request-time operations (inside the request's transaction) ---


def subscribe(user: User, plan_id: str, payment_method_id: str, gateway) -> Subscription:
    """Charge the first period and start the subscription; PaymentFailed if the charge fails.

    The caller commits even on PaymentFailed: the customer and the failed
    attempt in the ledger are kept, only the subscription is not created.
    """
    plan = PLANS[plan_id]
    _require(gateway)
    _lock(user)
    if Subscription.exists(lambda s: s.user_id == user.id and s.status in HELD):
        raise Conflict("You already have an active subscription", key="subscription_exists")
    customer_id = _customer_of(user, gateway)
    _attach(gateway, payment_method_id, customer_id)
    # Whole seconds, as the API shows them: the dates clients see are the ones we keep.
    now = utcnow().replace(microsecond=0)
    payment = Payment(
        user_id=user.id,
        plan_id=plan.id,
        kind=INITIAL,
        amount=plan.amount,
        currency=plan.currency,
        provider=gateway.provider,
        payment_method_id=payment_method_id,
        idempotency_key=f"subscribe:{uuid.uuid4()}",
        period_start=now,
        period_end=add_intervals(now, plan.interval, 1),
    )
    outcome = gateway.charge(
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        amount=plan.amount,
        currency=plan.currency,
        metadata=_metadata(payment, user),
        idempotency_key=payment.idempotency_key,
        off_session=False,
    )
    payment.record(outcome)
    if not outcome.succeeded:
        raise PaymentFailed(outcome.reason, outcome.message, code=outcome.code, payment=payment)
    sub = Subscription(
        user_id=user.id,
        plan_id=plan.id,
        status=ACTIVE,
        start_date=now,
        end_date=payment.period_end,
        anchor=now,
        provider=gateway.provider,
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        payment_id=outcome.provider_id,
    )
    payment.subscription = sub
    emit("subscription.created", _event_data(sub))
    return sub


def change_payment_method(
    user: User, payment_method_id: str, gateway, schedule: tuple[int, ...]
) -> Subscription:
    """Use a new card from now on; a past-due subscription is charged with it at once."""
    _require(gateway)
    _lock(user)
    sub_id = _current_id(user.id, utcnow())
    if sub_id is None:
        raise NotFound("You have no current subscription", key="no_subscription")
    sub = Subscription.get_for_update(id=sub_id)
    _attach(gateway, payment_method_id, sub.customer_id)
    sub.payment_method_id = payment_method_id
    if sub.status != PAST_DUE:
        return sub
    record = IdempotencyRecord.get(key=sub.renewal_key())
    if record is not None and record.state == CHARGING:
        raise Conflict("A charge for this subscription is in progress", key="charge_in_progress")
    payment = _start_attempt(sub, MANUAL_RETRY, record)
    outcome = gateway.charge(**_charge_args(sub, payment, user), off_session=False)
    # A retry the customer asked for does not use up one of the scheduled retries.
    _settle(sub, payment, outcome, utcnow(), schedule, dunning=False)
    if not outcome.succeeded:
        raise PaymentFailed(outcome.reason, outcome.message, code=outcome.code, payment=payment)
    return sub


def cancel(user: User) -> Subscription:
    """Stop renewing; premium lasts until the end of the paid period."""
    _lock(user)
    sub = (
        Subscription.select(lambda s: s.user_id == user.id and s.status in HELD)
        .for_update()
        .first()
    )
    if sub is None:
        raise NotFound("You have no subscription to cancel", key="no_subscription")
    sub.set(status=CANCELED, auto_renew=False, canceled_at=utcnow(), next_retry_at=None)
    emit("subscription.canceled", _event_data(sub))
    return sub


def _require(gateway) -> None:
    if gateway is None:
        raise PaymentFailed(PROCESSING_ERROR, "Payments are not configured on this server")


def _lock(user: User) -> None:
    # One billing change per user at a time: two sign-ups at once would both pass
    # the "already subscribed" check. On SQLite this starts an IMMEDIATE transaction.
    # Only the id is selected, so the user read at authentication is not re-read.
    orm.select(u.id for u in User if u.id == user.id).for_update()[:]


def _customer_of(user: User, gateway) -> str:
    customer = BillingCustomer.get(user_id=user.id)
    if customer is not None:
        return customer.customer_id
    customer_id = _gateway_call(
        gateway.create_customer,
        email=user.email,
        user_ref=str(user.public_id),
        idempotency_key=f"customer:{user.public_id}",
    )
    BillingCustomer(user_id=user.id, provider=gateway.provider, customer_id=customer_id)
    return customer_id


def _attach(gateway, payment_method_id: str, customer_id: str) -> None:
    from worker.clients.stripe_client import UnknownPaymentMethod

    try:
        _gateway_call(
            gateway.attach_payment_method,
            payment_method_id,
            customer_id,
            idempotency_key=f"attach:{customer_id}:{payment_method_id}",
        )
    except UnknownPaymentMethod as ex:
        raise InvalidInput(
            "The payment method cannot be used",
            details={"payment_method_id": str(ex) or "Unknown payment method"},
            key="payment_method",
        ) from None


def _gateway_call(fn, *args, **kwargs):
    from worker.clients.stripe_client import PaymentError

    try:
        return fn(*args, **kwargs)
    except PaymentError as ex:
        raise PaymentFailed(ex.reason, ex.message, code=ex.code) from None


def _metadata(payment: Payment, user: User | None) -> dict[str, str]:
    data = {"payment_id": str(payment.id), "kind": payment.kind}
    if payment.subscription is not None:
        data["subscription_id"] = str(payment.subscription.id)
    if user is not None:
        data["user_id"] = str(user.public_id)
    return data


def _charge_args(sub: Subscription, payment: Payment, user: User | None) -> dict:
    return {
        "customer_id": sub.customer_id,
        "payment_method_id": payment.payment_method_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "metadata": _metadata(payment, user),
        "idempotency_key": payment.idempotency_key,
    }


# --- Renewals: claim (one transaction), charge (none), settle (another) ---


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
        _expire(sub, as_of)
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
    """Lock the subscription and take this period's charge, unless it is taken or not due.

    A period whose charge is out (`charging`), by another pass or one that died
    before recording the outcome, is not charged again: the provider's webhook
    settles it.
    """
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
        _expire(sub, as_of)
        return None
    record = IdempotencyRecord.get(key=sub.renewal_key())
    if record is not None and record.state != FAILED:
        if record.state == CHARGING:
            log.warning("renewal %s is still charging; waiting for its outcome", record.key)
        return None
    kind = RENEWAL if sub.status == ACTIVE else RETRY
    payment = _start_attempt(sub, kind, record)
    return RenewalClaim(str(sub.id), str(payment.id), _charge_args(sub, payment, user))


def settle_renewal(
    claim: RenewalClaim, outcome, as_of: datetime, schedule: tuple[int, ...]
) -> None:
    """Record the charge's outcome and apply it, unless a webhook already did."""
    sub = Subscription.get_for_update(id=uuid.UUID(claim.subscription_id))
    payment = Payment[uuid.UUID(claim.payment_id)]
    if payment.status != PENDING:
        return
    _settle(sub, payment, outcome, as_of, schedule, dunning=True)


def _is_due(sub: Subscription, as_of: datetime) -> bool:
    if not sub.auto_renew:
        return False
    if sub.status == ACTIVE:
        return sub.end_date <= as_of + RENEW_AHEAD
    if sub.status == PAST_DUE:
        return sub.next_retry_at is not None and sub.next_retry_at <= as_of
    return False


def _start_attempt(sub: Subscription, kind: str, record: IdempotencyRecord | None) -> Payment:
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


def _settle(
    sub: Subscription,
    payment: Payment,
    outcome,
    as_of: datetime,
    schedule: tuple[int, ...],
    *,
    dunning: bool,
) -> None:
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
        _expire(sub, as_of)
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
    emit("subscription.renewed", _event_data(sub))


def _expire(sub: Subscription, as_of: datetime) -> None:
    sub.set(status=EXPIRED, auto_renew=False, expired_at=as_of, next_retry_at=None)
    emit("subscription.expired", _event_data(sub))


# --- Provider webhooks ---


def reconcile_provider_event(
    provider: str, event: dict, schedule: tuple[int, ...], now: datetime | None = None
) -> str:
    """Apply a verified provider event once; answers what became of it."""
    event_id, event_type = event["id"][:255], str(event.get("type", ""))[:100]
    if ProviderEvent.exists(id=event_id):
        return "duplicate"
    record = ProviderEvent(id=event_id, provider=provider, type=event_type, outcome="processing")
    try:
        orm.flush()
    except orm.TransactionIntegrityError:
        orm.rollback()  # the same event, delivered twice at once: the other one has it
        return "duplicate"
    obj = (event.get("data") or {}).get("object") or {}
    if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        record.outcome = _reconcile_intent(event_type, obj, schedule, now or utcnow())
    else:
        record.outcome = "ignored"
    return record.outcome


@dataclass(frozen=True)
class _IntentOutcome:
    status: str
    provider_id: str | None
    reason: str | None = None
    message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


def _reconcile_intent(event_type: str, intent: dict, schedule, now: datetime) -> str:
    metadata = intent.get("metadata") or {}
    payment_id = find_payment(metadata.get("payment_id"), intent.get("id"))
    if payment_id is None:
        log.info("no payment matches payment intent %s", intent.get("id"))
        return "unknown_payment"
    # Locks in the order settle_renewal takes them: the subscription, then the payment.
    sub_id = orm.select(p.subscription.id for p in Payment if p.id == payment_id).first()
    sub = Subscription.get_for_update(id=sub_id) if sub_id else None
    payment = Payment.get_for_update(id=payment_id)
    succeeded = event_type == "payment_intent.succeeded"
    if not payment.provider_id:
        payment.provider_id = intent.get("id")
    if payment.status == SUCCEEDED or (payment.status == FAILED and not succeeded):
        return "already_recorded"
    error = intent.get("last_payment_error") or {}
    outcome = _IntentOutcome(
        SUCCEEDED if succeeded else FAILED,
        intent.get("id"),
        None if succeeded else "declined",
        None if succeeded else error.get("message") or "The payment failed",
    )
    if sub is None:
        # A first charge that we recorded as failed (a timeout, say) but Stripe
        # reports as paid: no subscription came of it; the ledger shows it for a refund.
        payment.record(outcome)
        log.warning("payment %s succeeded without a subscription", payment.id)
        return "recorded"
    _settle(sub, payment, outcome, now, schedule, dunning=payment.kind != MANUAL_RETRY)
    return "reconciled"
