"""The payments ledger, our idempotency records, and the provider events already processed."""

from __future__ import annotations

import uuid
from datetime import datetime

from pony import orm

from models import db
from models.clock import rfc3339, utcnow
from models.errors import PaymentRequired

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
# What a charge was for.
INITIAL, RENEWAL, RETRY, MANUAL_RETRY = "initial", "renewal", "retry", "manual_retry"
# States of an idempotency record: a charge is out (or its outcome is unknown), or it is settled.
CHARGING = "charging"


class PaymentFailed(PaymentRequired):
    """A charge was declined, needs authentication, or could not be made (402)."""

    def __init__(self, reason: str, message: str, *, code: str | None = None, payment=None):
        details = {"reason": reason}
        if code:
            details["code"] = code
        if payment is not None:
            details["payment_id"] = str(payment.id)
        super().__init__(message, details=details, key=reason)
        self.reason = reason


class Payment(db.Entity):
    """One charge attempt: what was asked, of whom, for which period, and how it ended."""

    _table_ = "payments"

    id = orm.PrimaryKey(uuid.UUID, default=uuid.uuid4)
    # Users are referred to by id only: billing history outlives an account.
    user_id = orm.Required(int, index=True)
    subscription = orm.Optional("Subscription")
    plan_id = orm.Required(str, 16)
    kind = orm.Required(str, 16)
    amount = orm.Required(int)  # in the currency's minor unit (cents)
    currency = orm.Required(str, 3)
    provider = orm.Required(str, 16)
    provider_id = orm.Optional(str, 255, nullable=True, index=True)
    payment_method_id = orm.Required(str, 255)
    idempotency_key = orm.Required(str, 255, unique=True)
    status = orm.Required(str, 16, default=PENDING)
    failure_reason = orm.Optional(str, 32, nullable=True)
    failure_message = orm.Optional(str, 500, nullable=True)
    period_start = orm.Required(datetime)
    period_end = orm.Required(datetime)
    created_at = orm.Required(datetime, default=utcnow)
    updated_at = orm.Required(datetime, default=utcnow)

    def before_update(self):
        self.updated_at = utcnow()

    def charge_args(self, customer_id: str, user) -> dict:
        """What the gateway's charge() takes for this attempt (all but off_session)."""
        metadata = {"payment_id": str(self.id), "kind": self.kind}
        if self.subscription is not None:
            metadata["subscription_id"] = str(self.subscription.id)
        if user is not None:
            metadata["user_id"] = str(user.public_id)
        return {
            "customer_id": customer_id,
            "payment_method_id": self.payment_method_id,
            "amount": self.amount,
            "currency": self.currency,
            "metadata": metadata,
            "idempotency_key": self.idempotency_key,
        }

    def record(self, outcome) -> None:
        """Store a gateway's outcome (a models.payment_gateway.ChargeOutcome)."""
        self.status = SUCCEEDED if outcome.succeeded else FAILED
        self.provider_id = outcome.provider_id or self.provider_id
        self.failure_reason = None if outcome.succeeded else outcome.reason
        self.failure_message = None if outcome.succeeded else (outcome.message or "")[:500]

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "subscription_id": str(self.subscription.id) if self.subscription else None,
            "plan_id": self.plan_id,
            "kind": self.kind,
            "amount": self.amount,
            "currency": self.currency,
            "provider": self.provider,
            "provider_id": self.provider_id,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "period_start": rfc3339(self.period_start),
            "period_end": rfc3339(self.period_end),
            "created_at": rfc3339(self.created_at),
        }


class IdempotencyRecord(db.Entity):
    """Our own guard for work that must happen once (e.g. `renewal:{subscription}:{period_end}`).

    Stripe's Idempotency-Key is sent too, but a fake (localstripe) ignores it and
    a key only lives 24 hours there; this record holds on its own.
    """

    _table_ = "idempotency_records"

    key = orm.PrimaryKey(str, 255)
    state = orm.Required(str, 16)
    attempts = orm.Required(int, default=0)
    last_payment_id = orm.Optional(uuid.UUID, nullable=True)
    created_at = orm.Required(datetime, default=utcnow)
    updated_at = orm.Required(datetime, default=utcnow)

    def before_update(self):
        self.updated_at = utcnow()


class ProviderEvent(db.Entity):
    """A webhook event of a payment provider, kept so that each is processed once."""

    _table_ = "provider_events"

    id = orm.PrimaryKey(str, 255)
    provider = orm.Required(str, 16)
    type = orm.Required(str, 100)
    outcome = orm.Required(str, 32)
    received_at = orm.Required(datetime, default=utcnow)


def find_payment(payment_id: str | None, provider_id: str | None) -> uuid.UUID | None:
    """The ledger row a provider object refers to: by our id in its metadata, else by its id.

    Only the id: the caller locks the row before reading it.
    """
    if payment_id:
        try:
            key = uuid.UUID(payment_id)
        except ValueError:
            key = None
        if key is not None and orm.exists(p for p in Payment if p.id == key):
            return key
    if provider_id:
        return orm.select(p.id for p in Payment if p.provider_id == provider_id).first()
    return None
