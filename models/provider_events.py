"""Payment provider webhooks: each event is applied once, to the ledger and its subscription."""

from __future__ import annotations

import logging
from datetime import datetime

from pony import orm

from models.clock import utcnow
from models.payment_gateway import DECLINED, ChargeOutcome
from models.payments import FAILED, MANUAL_RETRY, SUCCEEDED, Payment, ProviderEvent, find_payment
from models.subscriptions import Subscription, settle

log = logging.getLogger(__name__)


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
    outcome = ChargeOutcome(
        succeeded,
        intent.get("id"),
        None if succeeded else DECLINED,
        None if succeeded else error.get("message") or "The payment failed",
    )
    if sub is None:
        # A first charge that we recorded as failed (a timeout, say) but Stripe
        # reports as paid: no subscription came of it; the ledger shows it for a refund.
        payment.record(outcome)
        log.warning("payment %s succeeded without a subscription", payment.id)
        return "recorded"
    settle(sub, payment, outcome, now, schedule, dunning=payment.kind != MANUAL_RETRY)
    return "reconciled"
