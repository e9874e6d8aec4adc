"""Subscribing and changing the card: charges made inside the request, under a lock on the user.

The caller's transaction commits even when a charge fails (PaymentFailed keeps
its changes): the customer and the failed attempt stay in the ledger.
"""

from __future__ import annotations

import uuid

from models.clock import utcnow
from models.errors import Conflict, InvalidInput, NotFound
from models.events import emit
from models.payment_gateway import (
    PROCESSING_ERROR,
    PaymentError,
    PaymentGateway,
    UnknownPaymentMethod,
)
from models.payments import (
    CHARGING,
    INITIAL,
    MANUAL_RETRY,
    IdempotencyRecord,
    Payment,
    PaymentFailed,
)
from models.plans import PLANS, add_intervals
from models.subscriptions import (
    ACTIVE,
    HELD,
    PAST_DUE,
    BillingCustomer,
    Subscription,
    current_id,
    event_data,
    lock_user,
    settle,
    start_attempt,
)
from models.users import User

# Names the first payments of keyed subscribe requests (uuid5 of the request's attempt).
_ATTEMPTS = uuid.UUID("5b0c36a2-6f0e-4d8f-9a51-3c4e2b7d9f10")


def subscribe(
    user: User,
    plan_id: str,
    payment_method_id: str,
    gateway: PaymentGateway | None,
    attempt: str | None = None,
) -> Subscription:
    """Charge the first period and start the subscription; PaymentFailed if the charge fails.

    `attempt` names the client's intent (its Idempotency-Key): each retry of one intent
    whose earlier try was rolled back asks the provider for the same charge.
    """
    plan = PLANS[plan_id]
    _require(gateway)
    lock_user(user)
    if Subscription.exists(lambda s: s.user_id == user.id and s.status in HELD):
        raise Conflict("You already have an active subscription", key="subscription_exists")
    customer_id = _customer_of(user, gateway)
    _attach(gateway, payment_method_id, customer_id)
    # Whole seconds, as the API shows them: the dates clients see are the ones we keep.
    now = utcnow().replace(microsecond=0)
    payment_id = _payment_id(attempt)
    payment = Payment(
        id=payment_id,
        user_id=user.id,
        plan_id=plan.id,
        kind=INITIAL,
        amount=plan.amount,
        currency=plan.currency,
        provider=gateway.provider,
        payment_method_id=payment_method_id,
        idempotency_key=f"subscribe:{payment_id}",
        period_start=now,
        period_end=add_intervals(now, plan.interval, 1),
    )
    outcome = gateway.charge(**payment.charge_args(customer_id, user), off_session=False)
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
    emit("subscription.created", event_data(sub))
    return sub


def change_payment_method(
    user: User, payment_method_id: str, gateway: PaymentGateway | None, schedule: tuple[int, ...]
) -> Subscription:
    """Use a new card from now on; a past-due subscription is charged with it at once."""
    _require(gateway)
    lock_user(user)
    sub_id = current_id(user.id, utcnow())
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
    payment = start_attempt(sub, MANUAL_RETRY, record)
    outcome = gateway.charge(**payment.charge_args(sub.customer_id, user), off_session=False)
    # A retry the customer asked for does not use up one of the scheduled retries.
    settle(sub, payment, outcome, utcnow(), schedule, dunning=False)
    if not outcome.succeeded:
        raise PaymentFailed(outcome.reason, outcome.message, code=outcome.code, payment=payment)
    return sub


def _require(gateway: PaymentGateway | None) -> None:
    if gateway is None:
        raise PaymentFailed(PROCESSING_ERROR, "Payments are not configured on this server")


def _customer_of(user: User, gateway: PaymentGateway) -> str:
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


def _attach(gateway: PaymentGateway, payment_method_id: str, customer_id: str) -> None:
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
    try:
        return fn(*args, **kwargs)
    except PaymentError as ex:
        raise PaymentFailed(ex.reason, ex.message, code=ex.code) from None


def _payment_id(attempt: str | None) -> uuid.UUID:
    """The first payment's id: one per intent, so that a retry sends the provider the same
    idempotency key and parameters (metadata included), and it charges once. An intent
    whose payment committed is answered by its stored reply; one seen again after its key
    expired is a new intent."""
    if attempt is not None:
        payment_id = uuid.uuid5(_ATTEMPTS, attempt)
        if not Payment.exists(id=payment_id):
            return payment_id
    return uuid.uuid4()
