"""Domain exceptions; each API surface maps them to its own error dialect."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    A refusal normally rolls back everything the request wrote. One that must
    leave a record behind (a revoked session, a declined charge in the ledger)
    says so with `keep_changes=True`, and the transaction commits anyway.
    """

    keeps_changes = False
    # Seconds after which trying again may succeed (sent as Retry-After), if that is known.
    retry_after: int | None = None

    def __init__(
        self,
        message: str = "",
        *,
        details: dict | None = None,
        key: str | None = None,
        keep_changes: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        # A stable name for the rule that was broken, so a surface can pick its own text.
        self.key = key
        if keep_changes is not None:
            self.keeps_changes = keep_changes


class InvalidInput(DomainError):
    """The request is well-formed but breaks a rule (400)."""


class AuthenticationFailed(DomainError):
    """No credentials, or credentials that do not hold (401).

    `key` is one of: missing, invalid, expired, credentials, refresh_reused.
    """


class PermissionDenied(DomainError):
    """The caller is known but may not do this (403)."""


class NotFound(DomainError):
    """No such object, or not one the caller may see (404)."""


class Conflict(DomainError):
    """The change clashes with what is stored (409)."""


class PaymentRequired(DomainError):
    """A charge did not go through (402); the attempt stays recorded."""

    keeps_changes = True


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key sent again with a different request (422)."""


class RateLimited(DomainError):
    """Too many attempts (429)."""

    def __init__(self, retry_after: int):
        super().__init__("Too many requests", details={"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(DomainError):
    """The database was lost mid-request; nothing of the request was kept (503)."""

    def __init__(self, retry_after: int = 2):
        super().__init__(
            "The service is briefly unavailable; try again shortly",
            details={"retry_after": retry_after},
            key="unavailable",
        )
        self.retry_after = retry_after
