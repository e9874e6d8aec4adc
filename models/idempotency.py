"""Idempotency keys: the first answer to a create, kept 24 hours so that a retry replays it.

A key row is written in the transaction of the work it guards and gets its
answer before that transaction commits, so a committed key always has one.
Work that rolls back leaves no key, and a retry runs again.

Concurrent requests with one key do the work once: the second one's insert
waits on the first one's uncommitted row (PostgreSQL's unique index; SQLite
has one writer at a time), then finds the committed row and replays it; if
the first rolled back, the second goes ahead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta

from pony import orm

from models import db
from models.clock import utcnow
from models.crypto import decrypt, encrypt
from models.errors import Conflict, IdempotencyKeyReused

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyKey(db.Entity):
    _table_ = "idempotency_keys"

    # Whose key it is ("user:<id>", or "email:<address>" for sign-ups): keys never cross callers.
    scope = orm.Required(str, 300)
    key = orm.Required(str, MAX_KEY_LENGTH)
    orm.PrimaryKey(scope, key)
    # HMAC of method, path and body: a database dump does not allow guessing the password
    # of a sign-up from it.
    fingerprint = orm.Required(str, 64)
    # The encrypted answer (status, headers, body): it may hold tokens.
    answer = orm.Optional(orm.LongStr, nullable=True)
    created_at = orm.Required(datetime, default=utcnow, index=True)


def fingerprint(method: str, path: str, body, secret: bytes) -> str:
    """What makes two requests the same one: method, path and the body's JSON value."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, b"idempotency:" + canonical.encode(), hashlib.sha256).hexdigest()


def claim(scope: str, key: str, fingerprint: str, secret: bytes) -> dict | None:
    """Take the key for this request (None), or return the answer stored under it.

    IdempotencyKeyReused if the key was used for a different request. Waits while another
    transaction holds the key uncommitted.
    """
    now = utcnow()
    params = {"scope": scope, "key": key, "fingerprint": fingerprint, "now": now}
    inserted = db.execute(
        'INSERT INTO idempotency_keys (scope, "key", fingerprint, created_at)'
        " VALUES ($scope, $key, $fingerprint, $now) ON CONFLICT DO NOTHING",
        {},
        params,
    )
    if inserted.rowcount == 1:
        return None
    # An expired key is free again: take it over in place.
    renewed = db.execute(
        "UPDATE idempotency_keys SET fingerprint = $fingerprint, answer = NULL, created_at = $now"
        ' WHERE scope = $scope AND "key" = $key AND created_at <= $cutoff',
        {},
        {**params, "cutoff": now - TTL},
    )
    if renewed.rowcount == 1:
        return None
    found = db.select(
        'SELECT fingerprint, answer FROM idempotency_keys WHERE scope = $scope AND "key" = $key',
        {},
        params,
    )
    if not found:  # purged between the two statements, at the very end of its 24 hours
        raise Conflict("The Idempotency-Key expired just now; try again", key="concurrent_change")
    stored, answer = found[0]
    if not hmac.compare_digest(stored, fingerprint):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different request",
            key="idempotency_key_reused",
        )
    if answer is None:  # committed without its answer: not a state this module leaves
        raise Conflict(
            "A request with this Idempotency-Key is in progress", key="concurrent_change"
        )
    return json.loads(decrypt(answer, secret))


def store(scope: str, key: str, answer: dict, secret: bytes) -> None:
    """Keep the answer of the request that claimed the key, before its transaction commits."""
    db.execute(
        'UPDATE idempotency_keys SET answer = $answer WHERE scope = $scope AND "key" = $key',
        {},
        {"scope": scope, "key": key, "answer": encrypt(json.dumps(answer), secret)},
    )


def purge(now: datetime | None = None) -> int:
    """Delete the keys older than TTL; returns how many."""
    cutoff = (now or utcnow()) - TTL
    return IdempotencyKey.select(lambda k: k.created_at <= cutoff).delete(bulk=True)
