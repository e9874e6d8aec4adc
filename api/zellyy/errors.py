"""Zellyy's error dialect: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from models import errors

# (status, code) per domain error; authentication depends on why it failed.
_DOMAIN = {
    errors.InvalidInput: (400, "invalid_request"),
    errors.PermissionDenied: (403, "permission_denied"),
    errors.NotFound: (404, "resource_not_found"),
    errors.Conflict: (409, "conflict"),
    errors.PaymentRequired: (402, "payment_failed"),
    errors.RateLimited: (429, "rate_limit_exceeded"),
    errors.Unavailable: (503, "service_unavailable"),
    errors.IdempotencyKeyReused: (422, "idempotency_key_reused"),
}

# For errors Falcon raises itself (routing, parsing, limits, crashes).
_HTTP = {
    400: ("invalid_request", "The request could not be understood"),
    401: ("authentication_required", "Authentication required"),
    403: ("permission_denied", "Permission denied"),
    404: ("resource_not_found", "The requested resource was not found"),
    405: ("method_not_allowed", "This method is not allowed on this resource"),
    411: ("invalid_request", "A Content-Length header is required"),
    413: ("payload_too_large", "The request body is larger than 1 MB"),
    415: ("invalid_request", "Unsupported media type: send application/json"),
    429: ("rate_limit_exceeded", "Too many requests"),
    502: ("upstream_unavailable", "An upstream service did not answer"),
}


def body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def from_domain(ex: errors.DomainError) -> tuple[int, dict]:
    if isinstance(ex, errors.AuthenticationFailed):
        code = (
            "invalid_credentials"
            if ex.key in ("credentials", "refresh_reused")
            else ("authentication_required")
        )
        return 401, body(code, ex.message or "Authentication required")
    for cls, (status, code) in _DOMAIN.items():
        if isinstance(ex, cls):
            return status, body(code, ex.message, ex.details)
    return 400, body("invalid_request", ex.message, ex.details)


def from_http(status: int, title: str | None, description: str | None) -> dict:
    if status >= 500 and status != 502:
        return body("internal_server_error", "An unexpected error occurred")
    code, message = _HTTP.get(status, ("invalid_request", title or "Bad request"))
    return body(code, description or message)
