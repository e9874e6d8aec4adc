"""The schema production runs now (PREVIOUS_RELEASE) and one coherent row set for all its tables.

At each release, move PREVIOUS_RELEASE on to the head that shipped and give rows
to the columns and tables its migrations added (tests/test_migrations.py checks
that every table has some).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

PREVIOUS_RELEASE = "0001_baseline"

T0 = datetime(2030, 1, 2, 3, 4, 5, 678901)
T1 = datetime(2030, 2, 2, 3, 4, 5)


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=(0x4 << 76) | (0x8 << 60) | n)


ANA, BO = 1, 2
SESSION, CARD, SHARE, EVENT, ENDPOINT, SUBSCRIPTION, PAYMENT = (uid(n) for n in range(10, 17))
RENEWAL_KEY = f"renewal:{SUBSCRIPTION}:2030-01-02T03:04:05Z"
ARGON2 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo"

# Parents before children: PostgreSQL checks foreign keys as rows go in.
ROWS: dict[str, list[dict]] = {
    "users": [
        {
            "id": user_id,
            "public_id": uid(user_id),
            "email": f"{name.title()}@Example.com",
            "email_key": f"{name}@example.com",
            "username": name,
            "password_hash": ARGON2,
            "display_name": name.title() if user_id == ANA else None,
            "avatar_url": None,
            "is_admin": user_id == ANA,
            "email_confirmed_at": T0 if user_id == ANA else None,
            "created_at": T0,
            "updated_at": T0,
        }
        for user_id, name in ((ANA, "ana"), (BO, "bo"))
    ],
    "auth_sessions": [
        {"id": SESSION, "user": ANA, "audience": "zellyy", "created_at": T0, "revoked_at": None}
    ],
    "refresh_tokens": [
        {
            "id": 1,
            "session": SESSION,
            "token_hash": "ab" * 32,
            "created_at": T0,
            "expires_at": T1,
            "spent_at": None,
        }
    ],
    "cards": [
        {
            "id": 1,
            "public_id": CARD,
            "owner": ANA,
            "content": "새해 복 많이 받으세요 — Happy New Year",
            "background_color": "#FFEEDD",
            "text_color": "#112233",
            "font_family": "system",
            "font_size": 24,
            "text_align": "center",
            "is_public": True,
            "created_at": T0,
            "updated_at": T1,
        }
    ],
    "card_counts": [{"owner": ANA, "cards": 1}],
    "card_tags": [{"card": 1, "tag": "newyear", "position": 0}],
    "social_accounts": [
        {
            "id": 1,
            "user": ANA,
            "platform": "twitter",
            "platform_user_id": "4242",
            "access_token_encrypted": "gAAAAABk-access",
            "refresh_token_encrypted": "gAAAAABk-refresh",
            "expires_at": T1,
            "needs_reconnect": False,
            "connected_at": T0,
        }
    ],
    "shares": [
        {
            "id": SHARE,
            "card": 1,
            "platform": "twitter",
            "status": "success",
            "message": "from Zellyy",
            "share_url": "https://x.com/i/web/status/1",
            "shared_at": T1,
            "error": None,
            "created_at": T0,
            "attempts": 1,
            "platform_post_id": "1",
            "post_started_at": T0,
        }
    ],
    "messages": [
        {
            "id": 1,
            "recipient_id": BO,
            "author_id": ANA,
            "message": "올해도 건강하세요",
            "amount": 10000,
            "is_moneybag": True,
            "created_at": T0,
        }
    ],
    "message_totals": [{"recipient_id": BO, "message_count": 1, "total_amount": 10000}],
    "open_day_mails": [
        {
            "id": 1,
            "user_id": BO,
            "open_at": T1,
            "claim_token": "c" * 32,
            "claimed_at": T1,
            "queued_at": T1,
        }
    ],
    "events": [
        {
            "id": EVENT,
            "type": "user.created",
            "created_at": T0,
            "data": {"id": str(uid(ANA)), "email": "Ana@Example.com", "username": "ana"},
        }
    ],
    "webhook_endpoints": [
        {
            "id": ENDPOINT,
            "url": "https://hooks.example.com/zellyy",
            "events": ["user.created", "card.created"],
            "secret_encrypted": "gAAAAABk-secret",
            "enabled": True,
            "disabled_reason": None,
            "created_at": T0,
            "deleted_at": None,
        }
    ],
    "webhook_deliveries": [
        {
            "id": 1,
            "endpoint": ENDPOINT,
            "event": EVENT,
            "message_id": "msg_" + "d" * 32,
            "status": "succeeded",
            "next_attempt_at": None,
            "locked_until": None,
            "lease_token": None,
            "manual_requested": False,
            "attempt_count": 1,
            "succeeded_at": T0,
            "created_at": T0,
        }
    ],
    "webhook_attempts": [
        {
            "id": 1,
            "delivery": 1,
            "number": 1,
            "trigger": "scheduled",
            "started_at": T0,
            "duration_ms": 42,
            "status_code": 200,
            "error": None,
            "response_body": "ok",
            "succeeded": True,
        }
    ],
    "billing_customers": [
        {"user_id": ANA, "provider": "stripe", "customer_id": "cus_ana", "created_at": T0}
    ],
    "subscriptions": [
        {
            "id": SUBSCRIPTION,
            "user_id": ANA,
            "plan_id": "monthly",
            "status": "active",
            "auto_renew": True,
            "start_date": T0,
            "end_date": T1,
            "anchor": T0,
            "periods": 1,
            "provider": "stripe",
            "customer_id": "cus_ana",
            "payment_method_id": "pm_card_visa",
            "payment_id": "pi_1",
            "failed_attempts": 0,
            "next_retry_at": None,
            "canceled_at": None,
            "expired_at": None,
            "created_at": T0,
            "updated_at": T0,
        }
    ],
    "payments": [
        {
            "id": PAYMENT,
            "user_id": ANA,
            "subscription": SUBSCRIPTION,
            "plan_id": "monthly",
            "kind": "renewal",
            "amount": 499,
            "currency": "usd",
            "provider": "stripe",
            "provider_id": "pi_1",
            "payment_method_id": "pm_card_visa",
            "idempotency_key": RENEWAL_KEY,
            "status": "succeeded",
            "failure_reason": None,
            "failure_message": None,
            "period_start": T0,
            "period_end": T1,
            "created_at": T0,
            "updated_at": T0,
        }
    ],
    "idempotency_records": [
        {
            "key": RENEWAL_KEY,
            "state": "succeeded",
            "attempts": 1,
            "last_payment_id": PAYMENT,
            "created_at": T0,
            "updated_at": T0,
        }
    ],
    "provider_events": [
        {
            "id": "evt_1",
            "provider": "stripe",
            "type": "invoice.paid",
            "outcome": "applied",
            "received_at": T0,
        }
    ],
}


def stored(value, engine: str):
    """A value as Pony writes it to `engine` (SQLite: UUIDs as 16 bytes, instants as text)."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if engine == "sqlite" and isinstance(value, uuid.UUID):
        return value.bytes
    if engine == "sqlite" and isinstance(value, datetime):
        return value.isoformat(" ", timespec="microseconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
