"""Stripe through stripe-python: customers, payment methods, PaymentIntents, webhook signatures.

StripeGateway is the domain's PaymentGateway: every call has a timeout and an
idempotency key, and Stripe's errors come out as the domain's. Card failures
are not raised: `charge()` answers with an outcome whose `reason` is one of the
domain's (declined, requires_action, processing_error), which the ledger stores.
"""

from __future__ import annotations

import json
import logging

import stripe

from models.payment_gateway import (
    DECLINED,
    PROCESSING_ERROR,
    REQUIRES_ACTION,
    ChargeOutcome,
    PaymentError,
    UnknownPaymentMethod,
)

log = logging.getLogger(__name__)

PROVIDER = "stripe"
# (connect, read) seconds. The first charge runs inside an API request, so the
# read timeout stays well below gunicorn's worker timeout and SQLite's busy timeout.
TIMEOUT = (5, 8)
# A webhook signed longer ago than this is refused (a replayed old delivery).
WEBHOOK_TOLERANCE = 300


class InvalidSignature(Exception):
    """A webhook whose Stripe-Signature does not verify, or whose body is not an event."""


class StripeGateway:
    provider = PROVIDER

    def __init__(self, api_key: str, api_base: str | None = None, timeout=TIMEOUT):
        addresses = {"api": api_base.rstrip("/")} if api_base else None
        self.client = stripe.StripeClient(
            api_key,
            base_addresses=addresses,
            http_client=stripe.RequestsClient(timeout=timeout),
            # Our own records decide what is retried: a blind network retry of a
            # charge is only safe where Stripe honours the idempotency key.
            max_network_retries=0,
        )

    @classmethod
    def from_config(cls, config) -> StripeGateway | None:
        """The gateway, or None when STRIPE_API_KEY is not set."""
        if not config.stripe_api_key:
            return None
        return cls(config.stripe_api_key, config.stripe_api_base)

    def create_customer(self, *, email: str, user_ref: str, idempotency_key: str) -> str:
        try:
            customer = self.client.v1.customers.create(
                params={"email": email, "metadata": {"user_id": user_ref}},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as ex:
            raise PaymentError(PROCESSING_ERROR, _message(ex), _code(ex)) from ex
        return customer.id

    def attach_payment_method(
        self, payment_method_id: str, customer_id: str, *, idempotency_key: str
    ) -> None:
        try:
            self.client.v1.payment_methods.attach(
                payment_method_id,
                params={"customer": customer_id},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as ex:
            raise PaymentError(DECLINED, _message(ex), _code(ex)) from ex
        except stripe.InvalidRequestError as ex:
            raise UnknownPaymentMethod(_message(ex)) from ex
        except stripe.StripeError as ex:
            raise PaymentError(PROCESSING_ERROR, _message(ex), _code(ex)) from ex

    def charge(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        off_session: bool,
    ) -> ChargeOutcome:
        """Create and confirm a PaymentIntent; off-session for renewals."""
        params = {
            "amount": amount,
            "currency": currency,
            "customer": customer_id,
            "payment_method": payment_method_id,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": metadata,
        }
        if off_session:
            params["off_session"] = True
        try:
            intent = self.client.v1.payment_intents.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.CardError as ex:
            return ChargeOutcome(
                False, self._intent_of_error(ex), DECLINED, _message(ex), _code(ex)
            )
        except stripe.StripeError as ex:
            log.warning("stripe charge %s failed: %s", idempotency_key, ex)
            return ChargeOutcome(False, None, PROCESSING_ERROR, _message(ex), _code(ex))
        if intent.status == "succeeded":
            return ChargeOutcome(True, intent.id)
        if intent.status == "requires_action":
            self._cancel(intent.id, idempotency_key)
            return ChargeOutcome(
                False,
                intent.id,
                REQUIRES_ACTION,
                "The card requires authentication",
                "authentication_required",
            )
        error = intent.to_dict().get("last_payment_error") or {}
        return ChargeOutcome(
            False,
            intent.id,
            DECLINED if error else PROCESSING_ERROR,
            error.get("message") or f"The payment is {intent.status}",
            error.get("code"),
        )

    def _intent_of_error(self, ex: stripe.StripeError) -> str | None:
        """The PaymentIntent a decline belongs to: in the error, or through its charge."""
        error = (ex.json_body or {}).get("error") or {}
        intent = error.get("payment_intent")
        if intent:
            return intent if isinstance(intent, str) else intent.get("id")
        charge_id = error.get("charge")
        if not charge_id:
            return None
        try:
            charge = self.client.v1.charges.retrieve(charge_id)
        except stripe.StripeError:
            return None
        return charge.to_dict().get("payment_intent")

    def _cancel(self, intent_id: str, idempotency_key: str) -> None:
        # Nobody will authenticate it: a PaymentIntent left open could still be confirmed.
        try:
            self.client.v1.payment_intents.cancel(
                intent_id, options={"idempotency_key": idempotency_key + ":cancel"}
            )
        except stripe.StripeError as ex:
            log.warning("could not cancel payment intent %s: %s", intent_id, ex)


def verify_webhook(payload: bytes, signature: str | None, secret: str) -> dict:
    """The event a Stripe webhook carries, once its signature holds; else InvalidSignature."""
    if not signature:
        raise InvalidSignature("The Stripe-Signature header is missing")
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    # Checked first: stripe-python assumes an object when it builds the event.
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise InvalidSignature("The body is not a Stripe event")
    try:
        stripe.Webhook.construct_event(payload, signature, secret, tolerance=WEBHOOK_TOLERANCE)
    except stripe.SignatureVerificationError as ex:
        raise InvalidSignature("The Stripe-Signature does not match the body") from ex
    return event


def _message(ex: stripe.StripeError) -> str:
    return ex.user_message or str(ex) or type(ex).__name__


def _code(ex: stripe.StripeError) -> str | None:
    return getattr(ex, "code", None)
