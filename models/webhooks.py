"""Webhook endpoints, the outbox of their deliveries, and the rules of signed delivery.

An event writes one delivery row per subscribed endpoint in its own transaction;
a worker claims due deliveries, a batch at a time, with a conditional UPDATE (a
lease), sends them outside any transaction, and records the attempts, which
decide what follows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from pony import orm

from models import db
from models.clock import rfc3339, utcnow
from models.crypto import decrypt, encrypt
from models.errors import Conflict, InvalidInput, NotFound
from models.events import EVENT_TYPES, Event, payload
from worker.dispatch import send_after_commit

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
ATTEMPT_TIMEOUT = 15  # seconds for one attempt, connecting and answering together
# Deliveries per task: a worker sends one batch's in parallel, so a batch takes
# about one attempt's time however many endpoints an event has.
BATCH_SIZE = 8
# A claim outlives any batch; only a worker that died lets it run out, and then
# the sweeper hands the delivery to another.
LEASE_SECONDS = 2 * ATTEMPT_TIMEOUT
RESPONSE_BODY_LIMIT = 1024
JITTER = 0.2  # each wait is stretched by up to 20%, so failed receivers are not hit in lockstep
MAX_RETRY_AFTER = 24 * 3600

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
SCHEDULED, MANUAL = "scheduled", "manual"


class WebhookEndpoint(db.Entity):
    _table_ = "webhook_endpoints"

    id = orm.PrimaryKey(uuid.UUID, default=uuid.uuid4)
    url = orm.Required(str, 2048)
    events = orm.Required(orm.Json)
    # Fernet ciphertext of the secret, decrypted only to sign; emptied on delete.
    secret_encrypted = orm.Optional(str, 1024)
    enabled = orm.Required(bool, default=True)
    disabled_reason = orm.Optional(str, 255, nullable=True)
    created_at = orm.Required(datetime, default=utcnow)
    deleted_at = orm.Optional(datetime)
    deliveries = orm.Set("WebhookDelivery")

    def to_dict(self) -> dict:
        return {
            "id": str(self.id),
            "url": self.url,
            "events": list(self.events),
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "created_at": rfc3339(self.created_at),
        }


class WebhookDelivery(db.Entity):
    """One event for one endpoint: the unit that is retried, and what `webhook-id` names."""

    _table_ = "webhook_deliveries"

    id = orm.PrimaryKey(int, auto=True)
    endpoint = orm.Required(WebhookEndpoint)
    event = orm.Required(Event)
    message_id = orm.Required(str, 40, unique=True)
    status = orm.Required(str, 16, default=PENDING)
    next_attempt_at = orm.Optional(datetime)
    # The lease of the worker sending it now: no other claims it before locked_until.
    locked_until = orm.Optional(datetime)
    lease_token = orm.Optional(str, 32, nullable=True)
    manual_requested = orm.Required(bool, default=False)
    attempt_count = orm.Required(int, default=0)
    succeeded_at = orm.Optional(datetime)
    created_at = orm.Required(datetime, default=utcnow)
    attempts = orm.Set("WebhookAttempt", cascade_delete=True)
    orm.composite_key(endpoint, event)
    orm.composite_index(status, next_attempt_at)  # the sweeper's question
    orm.composite_index(endpoint, id)  # an endpoint's deliveries, newest first

    def to_dict(self, attempts: list[WebhookAttempt]) -> dict:
        return {
            "id": self.id,
            "webhook_id": str(self.endpoint.id),
            "message_id": self.message_id,
            "event_id": f"evt_{self.event.id.hex}",
            "event_type": self.event.type,
            "status": self.status,
            "attempt_count": self.attempt_count,
            "next_attempt_at": rfc3339(self.next_attempt_at) if self.status == PENDING else None,
            "created_at": rfc3339(self.created_at),
            "attempts": [a.to_dict() for a in attempts],
        }


class WebhookAttempt(db.Entity):
    _table_ = "webhook_attempts"

    id = orm.PrimaryKey(int, auto=True)
    delivery = orm.Required(WebhookDelivery)
    number = orm.Required(int)
    trigger = orm.Required(str, 16)
    started_at = orm.Required(datetime)
    duration_ms = orm.Required(int)
    status_code = orm.Optional(int)
    error = orm.Optional(str, 500, nullable=True)
    response_body = orm.Optional(str, RESPONSE_BODY_LIMIT, nullable=True)
    succeeded = orm.Required(bool)

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "trigger": self.trigger,
            "attempted_at": rfc3339(self.started_at),
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "response_body": self.response_body,
            "succeeded": self.succeeded,
        }


# --- Secrets and signatures (Standard Webhooks) ---


def secret_key(secret: str) -> bytes:
    """The HMAC key: a whsec_ secret's base64-decoded bytes, any other secret's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :].rstrip("=")
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    return secret.encode()


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


def _check_secret(secret: str) -> None:
    try:
        key = secret_key(secret)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "Invalid webhook secret",
            details={"secret": "A whsec_ secret must be base64 after the prefix"},
        ) from None
    if not key:
        raise InvalidInput("Invalid webhook secret", details={"secret": "Must not be empty"})


# --- Which URLs we send to (SSRF) ---


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def non_public_reason(url: str) -> str | None:
    """Why `url` must not be called from here (its host is not public), or None."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return f"Host {host!r} does not resolve"
    for *_, sockaddr in infos:
        if not is_public_address(sockaddr[0]):
            return f"Host {host!r} resolves to a non-public address ({sockaddr[0]})"
    return None


def check_url(url: str, *, allow_private: bool) -> None:
    """Only http(s) URLs; unless allowed, only hosts whose every address is public."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("Invalid webhook URL", details={"url": "Must be an http(s) URL"})
    if allow_private:
        return
    reason = non_public_reason(url)
    if reason:
        raise InvalidInput("Webhook URL is not allowed", details={"url": reason}, key="ssrf")


# --- Endpoints ---


def create_endpoint(
    url: str, events: list[str], secret: str, *, encryption_key: bytes, allow_private: bool
) -> WebhookEndpoint:
    check_url(url, allow_private=allow_private)
    _check_secret(secret)
    unknown = [name for name in events if name not in EVENT_TYPES]
    if not events or unknown:
        raise InvalidInput(
            "Invalid event types",
            details={"events": "Must be a non-empty list of: " + ", ".join(EVENT_TYPES)},
        )
    return WebhookEndpoint(
        url=url,
        events=list(dict.fromkeys(events)),
        secret_encrypted=encrypt(secret, encryption_key),
    )


def list_endpoints() -> list[WebhookEndpoint]:
    return list(
        WebhookEndpoint.select(lambda e: e.deleted_at is None).order_by(
            orm.desc(WebhookEndpoint.created_at)
        )
    )


def get_endpoint(endpoint_id: str) -> WebhookEndpoint:
    try:
        key = uuid.UUID(endpoint_id)
    except ValueError:
        raise NotFound("Webhook not found") from None
    endpoint = WebhookEndpoint.get(id=key)
    if endpoint is None or endpoint.deleted_at is not None:
        raise NotFound("Webhook not found")
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Stop sending to it; its delivery history stays, its secret does not."""
    endpoint.set(deleted_at=utcnow(), enabled=False, secret_encrypted="")
    _close_pending(endpoint)


def _close_pending(endpoint: WebhookEndpoint) -> None:
    for delivery in endpoint.deliveries.select(lambda d: d.status == PENDING):
        delivery.set(status=FAILED, next_attempt_at=None)


# --- The outbox ---


def enqueue_deliveries(event: Event) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint subscribed to the event; a task per batch of them."""
    endpoints = WebhookEndpoint.select(lambda e: e.enabled and e.deleted_at is None)
    deliveries = [
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            message_id=f"msg_{uuid.uuid4().hex}",
            next_attempt_at=event.created_at,
        )
        for endpoint in endpoints
        if event.type in endpoint.events
    ]
    if deliveries:
        orm.flush()  # the ids the tasks carry
        ids = [delivery.id for delivery in deliveries]
        for start in range(0, len(ids), BATCH_SIZE):
            _send_after_commit(ids[start : start + BATCH_SIZE])
    return deliveries


def _send_after_commit(delivery_ids: list[int]) -> None:
    try:
        send_after_commit("webhooks.deliver", delivery_ids=delivery_ids)
    except RuntimeError:
        # Not inside transaction() (a bare db_session): the sweeper sends them instead.
        log.info("deliveries %s left to the sweeper", delivery_ids)


def due_deliveries(now: datetime, grace: float, limit: int = 1000) -> list[int]:
    """Deliveries due for `grace` seconds that no live lease holds, oldest first."""
    cutoff = now - timedelta(seconds=grace)
    rows = orm.select(
        (d.next_attempt_at, d.id)
        for d in WebhookDelivery
        if d.status == PENDING
        and d.next_attempt_at <= cutoff
        and (d.locked_until is None or d.locked_until <= now)
    ).order_by(1)[:limit]
    return [delivery_id for _due, delivery_id in rows]


def count_due(now: datetime) -> int:
    """Deliveries whose next attempt is due: the outbox's backlog, in flight ones included."""
    return orm.count(d for d in WebhookDelivery if d.status == PENDING and d.next_attempt_at <= now)


def deliveries_page(endpoint: WebhookEndpoint, page: int, limit: int) -> tuple[list[dict], int]:
    """Newest first, each with its attempts; two queries besides the count."""
    query = WebhookDelivery.select(lambda d: d.endpoint == endpoint)
    total = query.count()
    rows = list(
        query.order_by(orm.desc(WebhookDelivery.id))
        .prefetch(WebhookDelivery.event)
        .page(page, limit)
    )
    attempts: dict[int, list[WebhookAttempt]] = defaultdict(list)
    if rows:
        ids = [d.id for d in rows]
        for attempt in WebhookAttempt.select(lambda a: a.delivery.id in ids).order_by(
            WebhookAttempt.number
        ):
            attempts[attempt.delivery.id].append(attempt)
    return [d.to_dict(attempts[d.id]) for d in rows], total


def request_retry(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now (a replay if it was done); the attempt is marked manual."""
    owner = orm.select(d.endpoint.id for d in WebhookDelivery if d.id == delivery_id).first()
    if owner != endpoint.id:
        raise NotFound("Delivery not found")
    if not endpoint.enabled:
        raise Conflict(f"The webhook is disabled: {endpoint.disabled_reason}", key="disabled")
    now = utcnow()
    # Conditional, like a claim: never under the feet of a worker holding the lease.
    won = db.execute(
        "UPDATE webhook_deliveries"
        " SET status = 'pending', next_attempt_at = $now, manual_requested = $manual"
        " WHERE id = $delivery_id AND (locked_until IS NULL OR locked_until <= $now)",
        {"now": now, "manual": True, "delivery_id": delivery_id},
    ).rowcount
    if won != 1:
        raise Conflict("An attempt of this delivery is in progress", key="in_flight")
    _send_after_commit([delivery_id])
    return WebhookDelivery[delivery_id]


# --- One attempt: claim, then record ---


@dataclass(frozen=True)
class Claim:
    """What a worker needs to make one attempt, read in the claiming transaction."""

    delivery_id: int
    lease_token: str
    message_id: str
    url: str
    secret: str
    body: bytes
    number: int
    trigger: str


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt came to."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    body: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim(delivery_ids: list[int], encryption_key: bytes) -> list[Claim]:
    """Take one lease on those of these deliveries that are due, not done, and not held.

    The conditional UPDATE is the arbiter: of two workers handed the same
    delivery (a redelivered task, a sweep) exactly one gets it.
    """
    now = utcnow()
    token = secrets.token_hex(16)
    ids = {f"id{n}": int(delivery_id) for n, delivery_id in enumerate(delivery_ids)}
    if not ids:
        return []
    placeholders = ", ".join("$" + name for name in ids)  # bound parameters, not values
    won = db.execute(
        "UPDATE webhook_deliveries"  # noqa: S608
        " SET locked_until = $until, lease_token = $token, attempt_count = attempt_count + 1"
        f" WHERE id IN ({placeholders}) AND status = 'pending' AND next_attempt_at <= $now"
        " AND (locked_until IS NULL OR locked_until <= $now)",
        {"until": now + timedelta(seconds=LEASE_SECONDS), "token": token, "now": now, **ids},
    ).rowcount
    if not won:
        return []
    id_list = list(ids.values())
    # One query for everything the attempts need, as values: no entity loads one by one.
    rows = orm.select(
        (
            d.id,
            d.message_id,
            d.attempt_count,
            d.manual_requested,
            d.endpoint.id,
            d.endpoint.url,
            d.endpoint.secret_encrypted,
            d.endpoint.enabled and d.endpoint.deleted_at is None,
            d.event.id,
            d.event.type,
            d.event.created_at,
            d.event.data,
        )
        for d in WebhookDelivery
        if d.id in id_list and d.lease_token == token
    ).order_by(1)
    claims = []
    secrets_of: dict[uuid.UUID, str] = {}
    bodies: dict[uuid.UUID, bytes] = {}
    for row in rows:
        delivery_id, message_id, number, manual, endpoint_id, url, secret, active = row[:8]
        event_id, event_type, created_at, data = row[8:]
        if not active:
            WebhookDelivery[delivery_id].set(
                status=FAILED,
                next_attempt_at=None,
                locked_until=None,
                lease_token=None,
                attempt_count=number - 1,
            )
            continue
        if endpoint_id not in secrets_of:
            secrets_of[endpoint_id] = decrypt(secret, encryption_key)
        if event_id not in bodies:
            body = json.dumps(
                payload(event_id, event_type, created_at, data),
                separators=(",", ":"),
                ensure_ascii=False,
            )
            bodies[event_id] = body.encode()
        claims.append(
            Claim(
                delivery_id=delivery_id,
                lease_token=token,
                message_id=message_id,
                url=url,
                secret=secrets_of[endpoint_id],
                body=bodies[event_id],
                number=number,
                trigger=MANUAL if manual else SCHEDULED,
            )
        )
    return claims


def record_attempts(
    results: list[tuple[Claim, Outcome]], schedule: tuple[int, ...]
) -> dict[int, float]:
    """Store each attempt and settle its delivery; returns {delivery id: seconds to next try}.

    The common case, success, costs two statements for the whole batch; only
    failures are settled one by one.
    """
    if not results:
        return {}
    _insert_attempts(results)
    now = utcnow()
    succeeded = [claim for claim, outcome in results if outcome.succeeded]
    for token in {claim.lease_token for claim in succeeded}:
        ids = {f"id{n}": c.delivery_id for n, c in enumerate(succeeded) if c.lease_token == token}
        placeholders = ", ".join("$" + name for name in ids)
        # Only under our own lease: if it ran out and another worker took over, that one settles.
        db.execute(
            "UPDATE webhook_deliveries"  # noqa: S608
            " SET status = 'succeeded', succeeded_at = $now, next_attempt_at = NULL,"
            " locked_until = NULL, lease_token = NULL, manual_requested = $no"
            f" WHERE id IN ({placeholders}) AND lease_token = $token",
            {"now": now, "no": False, "token": token, **ids},
        )
    failed = [(claim, outcome) for claim, outcome in results if not outcome.succeeded]
    waits = {}
    if failed:
        ids = [claim.delivery_id for claim, _outcome in failed]
        found = {d.id: d for d in WebhookDelivery.select(lambda d: d.id in ids)}
        for claim, outcome in failed:
            delivery = found.get(claim.delivery_id)
            if delivery is None or delivery.lease_token != claim.lease_token:
                continue
            wait = _settle_failure(delivery, claim, outcome, schedule, now)
            if wait is not None:
                waits[delivery.id] = wait
    return waits


_ATTEMPT_COLUMNS = (
    "delivery",
    "number",
    "trigger",
    "started_at",
    "duration_ms",
    "status_code",
    "error",
    "response_body",
    "succeeded",
)


def _insert_attempts(results: list[tuple[Claim, Outcome]]) -> None:
    """One multi-row INSERT for the batch's attempts."""
    params: dict = {}
    rows = []
    for n, (claim, outcome) in enumerate(results):
        values = (
            claim.delivery_id,
            claim.number,
            claim.trigger,
            outcome.started_at,
            outcome.duration_ms,
            outcome.status_code,
            outcome.error[:500] if outcome.error else None,
            outcome.body,
            outcome.succeeded,
        )
        names = [f"{column}{n}" for column in _ATTEMPT_COLUMNS]
        params.update(zip(names, values, strict=True))
        rows.append("(" + ", ".join("$" + name for name in names) + ")")
    columns = ", ".join(f'"{column}"' for column in _ATTEMPT_COLUMNS)
    db.execute(
        f"INSERT INTO webhook_attempts ({columns}) VALUES {', '.join(rows)}",  # noqa: S608
        params,
    )


def _settle_failure(
    delivery: WebhookDelivery,
    claim: Claim,
    outcome: Outcome,
    schedule: tuple[int, ...],
    now: datetime,
) -> float | None:
    delivery.set(locked_until=None, lease_token=None, manual_requested=False)
    if outcome.status_code == 410:
        endpoint = delivery.endpoint
        endpoint.set(enabled=False, disabled_reason="The receiver answered 410 Gone")
        delivery.set(status=FAILED, next_attempt_at=None)
        _close_pending(endpoint)
        return None
    wait = _next_wait(delivery, claim.trigger, schedule, outcome.retry_after)
    if wait is None:
        delivery.set(status=FAILED, next_attempt_at=None)
        return None
    delivery.set(status=PENDING, next_attempt_at=now + timedelta(seconds=wait))
    return wait


def _next_wait(
    delivery: WebhookDelivery, trigger: str, schedule: tuple[int, ...], retry_after: float | None
) -> float | None:
    if trigger == MANUAL and delivery.succeeded_at is not None:
        return None  # a replay of a delivered event is a single attempt
    # The schedule counts scheduled attempts only: a manual one neither uses nor adds a retry.
    made = delivery.attempts.select(lambda a: a.trigger == SCHEDULED).count()
    index = max(made, 1) - 1
    if index >= len(schedule):
        return None
    wait = schedule[index] * random.uniform(1, 1 + JITTER)
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
    return wait
