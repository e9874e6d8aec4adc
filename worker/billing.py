"""Billing tasks: the renewal pass (beat, every 10 minutes; also `python -m api.cli renewals`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from models.clock import to_naive_utc, utcnow
from models.payment_gateway import PaymentGateway
from models.renewals import claim_renewal, due_renewals, expire_ended, settle_renewal
from models.transaction import transaction
from worker.celery import app, config
from worker.clients.stripe_client import StripeGateway

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    expired: int = 0
    renewed: int = 0
    failed: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return (
            f"renewed {self.renewed}, failed {self.failed}, "
            f"expired {self.expired}, skipped {self.skipped}"
        )


@app.task(name="billing.renewals", acks_late=True)
def renewals(as_of: str | None = None) -> dict:
    """One renewal pass; idempotent, so a redelivered or overlapping run charges nothing twice."""
    instant = datetime.fromisoformat(as_of.replace("Z", "+00:00")) if as_of else utcnow()
    gateway = StripeGateway.from_config(config)
    return vars(run_pass(gateway, instant, config.renewal_retry_schedule))


def run_pass(
    gateway: PaymentGateway | None, as_of: datetime, schedule: tuple[int, ...]
) -> PassReport:
    """Expire ended subscriptions, then charge every due one: claim, charge, settle.

    The charge is made outside any transaction, between the claim that marks the
    period as charging and the settlement that records the outcome.
    """
    as_of = to_naive_utc(as_of)
    report = PassReport()
    with transaction():
        report.expired = expire_ended(as_of)
        due = due_renewals(as_of)
    if due and gateway is None:
        log.warning("%d renewals due but STRIPE_API_KEY is not set", len(due))
        report.skipped = len(due)
        return report
    for subscription_id in due:
        with transaction():
            claim = claim_renewal(subscription_id, as_of)
        if claim is None:
            report.skipped += 1
            continue
        outcome = gateway.charge(**claim.charge, off_session=True)
        with transaction():
            settle_renewal(claim, outcome, as_of, schedule)
        if outcome.succeeded:
            report.renewed += 1
        else:
            report.failed += 1
            log.info("renewal of %s failed: %s", subscription_id, outcome.reason)
    return report
