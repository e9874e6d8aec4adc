"""What the domain needs from a payment provider, and the outcomes and errors it answers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Why a charge failed, as the ledger stores it.
DECLINED, REQUIRES_ACTION, PROCESSING_ERROR = "declined", "requires_action", "processing_error"


@dataclass(frozen=True)
class ChargeOutcome:
    """What a charge came to: succeeded, or failed with one of the reasons above."""

    succeeded: bool
    provider_id: str | None = None
    reason: str | None = None
    message: str | None = None
    code: str | None = None


class PaymentError(Exception):
    """A payment method could not be used (declined on attach, or the provider did not answer)."""

    def __init__(self, reason: str, message: str, code: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.code = code


class UnknownPaymentMethod(Exception):
    """The provider refused the payment method id itself: no such method, or another customer's."""


class PaymentGateway(Protocol):
    """A payment provider: a charge's card failures are outcomes; other failures raise the above."""

    provider: str

    def create_customer(self, *, email: str, user_ref: str, idempotency_key: str) -> str:
        """The provider's id of a new customer."""

    def attach_payment_method(
        self, payment_method_id: str, customer_id: str, *, idempotency_key: str
    ) -> None:
        """PaymentError if declined, UnknownPaymentMethod if the id is not usable."""

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
        """Charge now; `off_session` when the customer is not there (renewals)."""
