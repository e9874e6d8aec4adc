"""The bodies Zellyy answers, as JSON Schema: each operation's `returns`, named in the document.

Objects list every key they always carry (`required`) and no other
(`additionalProperties: false`), so that an answer drifting from its schema fails
the tests (tests/contract.py). Secrets (password hashes, platform tokens,
webhook signing secrets) are never answered, so they appear nowhere here.
"""

from __future__ import annotations

from api.pages import page_of
from api.schemas import NO_NEWLINE, component, fixed
from models import cards, plans, shares, social, subscriptions, webhooks
from models.events import EVENT_TYPES

# Every timestamp is RFC 3339 in UTC, to the second (models.clock.rfc3339).
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
UUID = {"type": "string", "format": "uuid"}
TEXT_OR_NULL = {"type": ["string", "null"]}


def exact(**properties) -> dict:
    """An object with exactly these keys, every one of them always present."""
    return fixed(list(properties), **properties)


MESSAGE = component("Message", exact(message={"type": "string"}))

TOKENS = component(
    "Tokens",
    exact(
        access_token={"type": "string", "description": "A JWT for the Authorization header"},
        refresh_token={"type": "string", "description": "Single use: POST /auth/refresh"},
        expires_at={"type": "integer", "description": "When the access token expires (Unix s)"},
    ),
)
LOGGED_IN = component(
    "Login",
    exact(
        user=exact(id=UUID, email={"type": "string"}, username={"type": "string"}),
        session=TOKENS,
    ),
)

_PROFILE = {
    "id": UUID,
    "email": {"type": "string"},
    "username": {"type": "string"},
    "display_name": TEXT_OR_NULL,
    "avatar_url": TEXT_OR_NULL,
}
PROFILE = component(
    "Profile",
    exact(
        **_PROFILE,
        created_at=TIME,
        email_confirmed_at=TIME_OR_NULL,
        is_premium={"type": "boolean"},
        premium_until=TIME_OR_NULL,
    ),
)
PROFILE_UPDATED = component("ProfileUpdated", exact(**_PROFILE, updated_at=TIME))
CONFIRMED = component("EmailConfirmed", exact(message={"type": "string"}, email_confirmed_at=TIME))

_COLOUR = {"type": "string", "pattern": NO_NEWLINE + "#[0-9A-Fa-f]{6}$"}
_CARD = {
    "id": UUID,
    "content": {"type": "string"},
    "background_color": _COLOUR,
    "text_color": _COLOUR,
    "font_family": {"type": "string"},
    "font_size": {"type": "integer"},
    "text_align": {"type": "string", "enum": list(cards.TEXT_ALIGNS)},
    "is_public": {"type": "boolean"},
    "is_synced": {"type": "boolean", "description": "Premium: every card is synced"},
    "created_at": TIME,
    "updated_at": TIME,
    "tags": {"type": "array", "items": {"type": "string"}},
}
_PLATFORM = {"type": "string", "enum": list(social.PLATFORMS)}
CARD = component("Card", exact(**_CARD))
CARD_DETAIL = component(
    "CardDetail",
    exact(
        **_CARD,
        share_count={"type": "integer", "minimum": 0},
        share_platforms={"type": "array", "items": _PLATFORM},
    ),
)
CARD_PAGE = component("CardPage", page_of(CARD))
PNG = {"type": "string", "format": "binary"}

SHARE_ITEM = component(
    "Share",
    exact(
        id=UUID,
        card_id=UUID,
        platform=_PLATFORM,
        status={"type": "string", "enum": list(shares.SHARE_STATUSES)},
        share_url=TEXT_OR_NULL,
        shared_at=TIME_OR_NULL,
        error={**TEXT_OR_NULL, "description": "Why the share failed, once it has"},
    ),
)
SHARES = component("Shares", exact(shares={"type": "array", "items": SHARE_ITEM}))

SOCIAL_CONNECTION = component(
    "SocialConnection",
    exact(
        platform=_PLATFORM,
        connected={"const": True},
        platform_user_id={"type": "string"},
        expires_at={"type": ["integer", "null"], "description": "Unix seconds"},
    ),
)
SOCIAL_ACCOUNTS = component(
    "SocialAccounts",
    exact(
        accounts={
            "type": "array",
            "items": exact(
                platform=_PLATFORM,
                platform_user_id={"type": "string"},
                connected_at=TIME,
                expires_at={"type": ["integer", "null"], "description": "Unix seconds"},
                needs_reconnect={"type": "boolean"},
            ),
        }
    ),
)

_PLAN_ID = {"type": "string", "enum": list(plans.PLANS)}
PLAN = component(
    "Plan",
    exact(
        id=_PLAN_ID,
        name={"type": "string"},
        description={"type": "string"},
        price={"type": "number", "description": "In the currency's major unit"},
        currency={"type": "string", "pattern": NO_NEWLINE + "[A-Z]{3}$"},
        interval={"type": "string", "enum": ["month", "year"]},
        features={"type": "array", "items": {"type": "string"}},
    ),
)
PLANS = component("Plans", exact(plans={"type": "array", "items": PLAN}))
_SUBSCRIPTION_STATUS = {
    "type": "string",
    "enum": [
        subscriptions.ACTIVE,
        subscriptions.PAST_DUE,
        subscriptions.CANCELED,
        subscriptions.EXPIRED,
    ],
}
SUBSCRIPTION = component(
    "Subscription",
    exact(
        id=UUID,
        plan_id=_PLAN_ID,
        status=_SUBSCRIPTION_STATUS,
        start_date=TIME,
        end_date=TIME,
        auto_renew={"type": "boolean"},
        payment_provider={"type": "string"},
        payment_id={**TEXT_OR_NULL, "description": "The last successful charge"},
    ),
)
CANCELED = component(
    "CanceledSubscription",
    exact(
        id=UUID,
        status={"const": subscriptions.CANCELED},
        end_date=TIME,
        message={"type": "string"},
    ),
)
STRIPE_RECEIPT = component(
    "StripeEventReceived",
    exact(
        received={"const": True},
        outcome={
            "type": "string",
            "enum": [
                "duplicate",
                "ignored",
                "unknown_payment",
                "already_recorded",
                "recorded",
                "reconciled",
            ],
        },
    ),
)

_EVENTS = {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}}
WEBHOOK_CREATED = component(
    "WebhookCreated", exact(id=UUID, url={"type": "string"}, events=_EVENTS, created_at=TIME)
)
WEBHOOK = component(
    "Webhook",
    exact(
        id=UUID,
        url={"type": "string"},
        events=_EVENTS,
        enabled={"type": "boolean"},
        disabled_reason=TEXT_OR_NULL,
        breaker=exact(
            state={"type": "string", "enum": [webhooks.CLOSED, webhooks.OPEN, webhooks.HALF_OPEN]},
            consecutive_failures={"type": "integer", "minimum": 0},
            failing_since=TIME_OR_NULL,
            paused_until=TIME_OR_NULL,
        ),
        created_at=TIME,
    ),
)
WEBHOOKS = component("Webhooks", exact(data={"type": "array", "items": WEBHOOK}))
DELIVERY = component(
    "Delivery",
    exact(
        id={"type": "integer"},
        webhook_id=UUID,
        message_id={"type": "string", "description": "The webhook-id header it is sent with"},
        event_id={"type": "string", "pattern": NO_NEWLINE + "evt_[0-9a-f]{32}$"},
        event_type={"type": "string", "enum": list(EVENT_TYPES)},
        status={
            "type": "string",
            "enum": [webhooks.PENDING, webhooks.SUCCEEDED, webhooks.FAILED],
        },
        attempt_count={"type": "integer", "minimum": 0},
        next_attempt_at={**TIME_OR_NULL, "description": "Set while pending"},
        created_at=TIME,
        attempts={
            "type": "array",
            "items": exact(
                number={"type": "integer", "minimum": 1},
                trigger={"type": "string", "enum": [webhooks.SCHEDULED, webhooks.MANUAL]},
                attempted_at=TIME,
                status_code={"type": ["integer", "null"]},
                error=TEXT_OR_NULL,
                duration_ms={"type": "integer", "minimum": 0},
                response_body=TEXT_OR_NULL,
                succeeded={"type": "boolean"},
            ),
        },
    ),
)
DELIVERY_PAGE = component("DeliveryPage", page_of(DELIVERY))
