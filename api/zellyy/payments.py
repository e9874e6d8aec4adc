"""Stripe's webhooks: signed payment events that reconcile the payments ledger."""

from __future__ import annotations

import logging

import falcon

from api.deps import Deps
from api.validation import operation
from api.zellyy.schemas import STRIPE_RECEIPT
from models import provider_events
from models.errors import InvalidInput
from worker.clients import stripe_client

log = logging.getLogger(__name__)


def routes(deps: Deps) -> dict:
    return {"/payments/stripe/webhook": StripeWebhook(deps)}


class StripeWebhook:
    """Verified with STRIPE_WEBHOOK_SECRET; each event id is processed once."""

    surface = "zellyy"

    def __init__(self, deps: Deps):
        self.secret = deps.config.stripe_webhook_secret
        self.schedule = deps.config.renewal_retry_schedule

    @operation(
        "Stripe webhook (Stripe-Signature): payment_intent.succeeded and payment_failed",
        responses={
            400: "Signature missing or wrong, not a Stripe event, or webhooks not configured",
            # Its body is read raw, but within the limits every body is held to.
            411: "A chunked body that this server cannot read (no Content-Length)",
            413: "The body is over the size limit",
            409: "The payment changed in another request at the same time; Stripe retries",
        },
        returns=STRIPE_RECEIPT,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.secret:
            raise InvalidInput("Stripe webhooks are not configured", key="stripe_webhooks_off")
        payload = req.bounded_stream.read()
        try:
            event = stripe_client.verify_webhook(
                payload, req.get_header("Stripe-Signature"), self.secret
            )
        except stripe_client.InvalidSignature as ex:
            raise InvalidInput(
                "Invalid Stripe webhook", details={"Stripe-Signature": str(ex)}, key="signature"
            ) from None
        outcome = provider_events.reconcile_provider_event(
            stripe_client.PROVIDER, event, self.schedule
        )
        log.info("stripe event %s (%s): %s", event["id"], event.get("type"), outcome)
        resp.media = {"received": True, "outcome": outcome}
