"""Claiming webhook deliveries: a lease per attempt in flight, as far as each endpoint has room.

A live lease (locked_until ahead) is an attempt in flight. An endpoint may have
`Limits.per_endpoint` of them over all workers; one while its breaker lets a
probe through; none while it is paused. A new attempt is counted under a lock
on its endpoint's row (`claim`, `claim_due`). An attempt that finishes hands
its place on to the endpoint's next due delivery in the transaction that
records it (`pass_on`): the count stays the same, so no lock is needed, and an
endpoint's backlog flows without waiting for anyone.
"""

from __future__ import annotations

import functools
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pony import orm

from models import db, pyformat
from models.clock import utcnow
from models.crypto import decrypt
from models.events import payload
from models.webhook_breaker import Breaker
from models.webhooks import (
    FAILED,
    MANUAL,
    SCHEDULED,
    WebhookDelivery,
    WebhookEndpoint,
    breaker_state,
)

CONNECT_TIMEOUT = 5  # seconds to connect to a receiver
ATTEMPT_TIMEOUT = 15  # seconds for one attempt, connecting and answering together
# A lease outlives any attempt and its recording; only a worker that died lets it
# run out, and then the sweeper hands the delivery to another.
LEASE_SECONDS = 2 * ATTEMPT_TIMEOUT


@dataclass(frozen=True)
class Claim:
    """What a worker needs to make one attempt, read in the claiming transaction."""

    delivery_id: int
    lease_token: str
    message_id: str
    endpoint_id: uuid.UUID
    url: str
    secret: str
    body: bytes
    number: int
    trigger: str


@dataclass(frozen=True)
class Limits:
    """Attempts in flight an endpoint may have, over all workers, and its breaker's say."""

    per_endpoint: int
    breaker: Breaker


def claim(delivery_ids: list[int], encryption_key: bytes, limits: Limits, most: int) -> list[Claim]:
    """Lease up to `most` of these deliveries: those due, not held, whose endpoint has room.

    Room left at their endpoints goes to what else is due there, oldest first:
    an endpoint with a backlog gets all the attempts in flight it may have.
    """
    ids = sorted({int(delivery_id) for delivery_id in delivery_ids})
    if not ids or most < 1:
        return []
    now = utcnow()
    placeholders, params = bound("id", ids)
    # Whether each is due is read, not asked in WHERE: so the planner looks them up by
    # their keys, whatever it believes of how many deliveries are pending.
    candidates = [
        (row[0], column_uuid(row[1]))
        for row in execute(
            "SELECT id, endpoint, status = 'pending' AND next_attempt_at <= $now"  # noqa: S608
            " AND (locked_until IS NULL OR locked_until <= $now)"
            f" FROM webhook_deliveries WHERE id IN ({placeholders}) ORDER BY id",
            {**params, "now": now},
        ).fetchall()
        if row[2]
    ]
    if not candidates:  # done, or taken by an attempt that finished before
        return []
    room = _room({endpoint for _id, endpoint in candidates}, limits, now)
    chosen, closed = [], []
    for delivery_id, endpoint_id in candidates:
        if endpoint_id not in room:
            closed.append(delivery_id)
        elif room[endpoint_id] > 0 and len(chosen) < most:
            room[endpoint_id] -= 1
            chosen.append(delivery_id)
    if closed:
        for delivery in WebhookDelivery.select(lambda d: d.id in closed):
            delivery.set(status=FAILED, next_attempt_at=None)
    more = _due(_share(room, most - len(chosen)), now) if len(chosen) < most else None
    return _lease(chosen, more, encryption_key, now)


def claim_due(
    endpoint_ids: list[uuid.UUID], encryption_key: bytes, limits: Limits, most: int
) -> list[Claim]:
    """Lease up to `most` due deliveries of these endpoints, oldest first, as each has room."""
    if not endpoint_ids or most < 1:
        return []
    now = utcnow()
    room = _room(endpoint_ids, limits, now)
    return _lease([], _due(_share(room, most), now), encryption_key, now)


def pass_on(places: dict[uuid.UUID, int], encryption_key: bytes, most: int) -> list[Claim]:
    """Hand the places of finished attempts to their endpoints' next due deliveries.

    Call it in the transaction that records those attempts (and ends their
    leases). Endpoints paused or disabled meanwhile get nothing.
    """
    now = utcnow()
    return _lease([], _due(_share(places, most), now, skip_locked=True), encryption_key, now)


def lock_endpoints(endpoint_ids) -> dict[uuid.UUID, WebhookEndpoint]:
    """The endpoints, locked in a fixed order for the rest of the transaction.

    Counted claims and breaker changes of one endpoint so take turns, each
    seeing what the one before committed. A transaction locks endpoints before
    any delivery row, in this order, so none waits for another in a circle.
    PostgreSQL: FOR NO KEY UPDATE, which leaves alone the transactions that only
    add deliveries (their foreign key check takes KEY SHARE). SQLite: the
    transaction begins IMMEDIATE, holding the database's write lock.
    """
    ids = sorted(set(endpoint_ids))
    if not ids:
        return {}
    query = WebhookEndpoint.select(lambda e: e.id in ids)
    if _postgres():
        _lock_rows(ids, "id")
    else:
        query = query.for_update()
    return {endpoint.id: endpoint for endpoint in query}


def _lock_rows(ids: list[uuid.UUID], columns: str) -> list[tuple]:
    """PostgreSQL: lock these endpoints (in the order lock_endpoints keeps); their `columns`."""
    placeholders, params = bound("e", ids)
    return execute(
        f"SELECT {columns} FROM webhook_endpoints WHERE id IN ({placeholders})"  # noqa: S608
        " ORDER BY id FOR NO KEY UPDATE",
        params,
    ).fetchall()


def commit_without_waiting_for_disk() -> None:
    """Let this transaction's commit return before PostgreSQL has flushed it to disk.

    For leases and attempt records only: a database crash may forget their last
    moments, which means sending those deliveries again (at least once, as ever).
    """
    if _postgres():
        execute("SET LOCAL synchronous_commit TO OFF", {})


def _room(endpoint_ids, limits: Limits, now: datetime) -> dict[uuid.UUID, int]:
    """Lock the endpoints; attempts each active one may still start: its limit less its leases.

    Counted after the lock is held, so that what the claim before committed is seen.
    """
    ids = sorted(set(endpoint_ids))
    if not ids:
        return {}
    if _postgres():  # the columns the breaker needs, without loading entities
        states = {
            row[0]: row[1:]
            for row in _lock_rows(ids, "id, enabled, deleted_at, paused_until, pauses")
        }
    else:
        states = {
            e.id: (e.enabled, e.deleted_at, e.paused_until, e.pauses)
            for e in lock_endpoints(ids).values()
        }
    placeholders, params = bound("e", [sql_uuid(e) for e in ids])
    in_flight = {
        column_uuid(endpoint): count
        for endpoint, count in execute(
            "SELECT endpoint, COUNT(*) FROM webhook_deliveries"  # noqa: S608
            f" WHERE endpoint IN ({placeholders}) AND locked_until > $now GROUP BY endpoint",
            {**params, "now": now},
        ).fetchall()
    }
    return {
        endpoint_id: limits.breaker.room(
            breaker_state(paused_until, pauses, now), limits.per_endpoint
        )
        - in_flight.get(endpoint_id, 0)
        for endpoint_id, (enabled, deleted_at, paused_until, pauses) in states.items()
        if enabled and deleted_at is None
    }


def _share(room: dict[uuid.UUID, int], most: int) -> dict[uuid.UUID, int]:
    """At most `most` places in all, dealt to the endpoints in turn, none beyond its room."""
    share = dict.fromkeys(room, 0)
    while most > 0:
        open_ = [e for e in room if room[e] > share[e]]
        for endpoint_id in open_[:most]:
            share[endpoint_id] += 1
        most -= len(open_[:most])
        if not open_:
            break
    return share


def _due(
    room: dict[uuid.UUID, int], now: datetime, skip_locked: bool = False
) -> tuple[str, dict] | None:
    """A SELECT of up to room[e] due, unheld deliveries of each endpoint e, active, not paused.

    One statement for all endpoints, each part an index range (endpoint, status,
    next_attempt_at). With `skip_locked`, rows another transaction is leasing
    right now are passed over rather than waited for (PostgreSQL). None if
    there is no room.
    """
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked and _postgres() else ""
    if _postgres():
        # One text whatever the endpoints, planned quickly; each endpoint an ordered
        # index scan that stops after its count.
        wanted = {endpoint_id: count for endpoint_id, count in room.items() if count > 0}
        if not wanted:
            return None
        return (
            "SELECT due.id"  # noqa: S608
            " FROM unnest($due_endpoints::uuid[], $due_counts::int[]) AS r(endpoint, n)"
            " JOIN webhook_endpoints AS de ON de.id = r.endpoint AND de.enabled"
            " AND de.deleted_at IS NULL AND (de.paused_until IS NULL OR de.paused_until <= $now)"
            " CROSS JOIN LATERAL (SELECT id FROM webhook_deliveries WHERE endpoint = r.endpoint"
            " AND status = 'pending' AND next_attempt_at <= $now"
            " AND (locked_until IS NULL OR locked_until <= $now)"
            f" ORDER BY next_attempt_at LIMIT r.n{lock}) AS due",
            {"now": now, "due_endpoints": list(wanted), "due_counts": list(wanted.values())},
        )
    params: dict = {"now": now, "yes": True}
    parts = []
    for n, (endpoint_id, count) in enumerate(room.items()):
        if count < 1:
            continue
        params[f"e{n}"] = sql_uuid(endpoint_id)
        params[f"n{n}"] = count
        parts.append(
            f"SELECT id FROM (SELECT id FROM webhook_deliveries WHERE endpoint = $e{n}"  # noqa: S608
            " AND status = 'pending' AND next_attempt_at <= $now"
            " AND (locked_until IS NULL OR locked_until <= $now)"
            " AND EXISTS (SELECT 1 FROM webhook_endpoints e"
            f" WHERE e.id = $e{n} AND e.enabled = $yes AND e.deleted_at IS NULL"
            " AND (e.paused_until IS NULL OR e.paused_until <= $now))"
            f" ORDER BY next_attempt_at, id LIMIT $n{n}{lock}) AS due{n}"
        )
    if not parts:
        return None
    return " UNION ALL ".join(parts), params


def _lease(
    delivery_ids: list[int], due: tuple[str, dict] | None, encryption_key: bytes, now: datetime
) -> list[Claim]:
    """Take one lease on these deliveries and those `due` selects, if still due and unheld.

    The conditional UPDATE is the arbiter: of two workers handed the same
    delivery (a redelivered task, a sweep) exactly one gets it. On PostgreSQL
    one statement chooses, leases and reads what the attempts need.
    """
    if not delivery_ids and due is None:
        return []
    token = secrets.token_hex(16)
    params = {"until": now + timedelta(seconds=LEASE_SECONDS), "token": token, "now": now}
    if _postgres():
        # At most this many: the planner, told so, looks each row up by its key.
        most = len(delivery_ids) + (sum(due[1]["due_counts"]) if due else 0)
        chosen = "SELECT unnest($ids::int[])"
        if due is not None:
            chosen += " UNION ALL " + due[0]
            params.update(due[1])
        params.update(ids=list(delivery_ids), most=most)
        rows = execute(
            "UPDATE webhook_deliveries AS d"  # noqa: S608
            " SET locked_until = $until, lease_token = $token, attempt_count = d.attempt_count + 1"
            " FROM webhook_endpoints AS e, events AS v"
            f" WHERE d.id IN (SELECT c.id FROM ({chosen}) AS c(id) LIMIT $most)"
            " AND d.status = 'pending'"
            " AND (d.locked_until IS NULL OR d.locked_until <= $now)"
            " AND e.id = d.endpoint AND v.id = d.event"
            " RETURNING d.id, d.message_id, d.attempt_count, d.manual_requested, e.id, e.url,"
            " e.secret_encrypted, v.id, v.type, v.created_at, v.data",
            params,
        ).fetchall()
        rows = [(*row[:10], json.loads(row[10])) for row in sorted(rows)]
    else:
        sources = []
        if delivery_ids:
            placeholders, ids = bound("id", delivery_ids)
            params.update(ids)
            sources.append(f"SELECT id FROM webhook_deliveries WHERE id IN ({placeholders})")  # noqa: S608
        if due is not None:
            sources.append(due[0])
            params.update(due[1])
        execute(
            "UPDATE webhook_deliveries"  # noqa: S608
            " SET locked_until = $until, lease_token = $token, attempt_count = attempt_count + 1"
            f" WHERE id IN ({' UNION ALL '.join(sources)}) AND status = 'pending'"
            " AND (locked_until IS NULL OR locked_until <= $now)",
            params,
        )
        rows = orm.select(
            (
                d.id,
                d.message_id,
                d.attempt_count,
                d.manual_requested,
                d.endpoint.id,
                d.endpoint.url,
                d.endpoint.secret_encrypted,
                d.event.id,
                d.event.type,
                d.event.created_at,
                d.event.data,
            )
            for d in WebhookDelivery
            if d.lease_token == token
        ).order_by(1)[:]
    claims = []
    bodies: dict[uuid.UUID, bytes] = {}
    for row in rows:
        delivery_id, message_id, number, manual, endpoint_id, url, secret = row[:7]
        event_id, event_type, created_at, data = row[7:]
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
                endpoint_id=endpoint_id,
                url=url,
                secret=_secret(secret, encryption_key),
                body=bodies[event_id],
                number=number,
                trigger=MANUAL if manual else SCHEDULED,
            )
        )
    return claims


@functools.lru_cache(maxsize=1024)
def _secret(encrypted: str, encryption_key: bytes) -> str:
    """An endpoint's secret, decrypted once per process (a new secret is a new ciphertext)."""
    return decrypt(encrypted, encryption_key)


def execute(sql: str, params: dict):
    """Raw SQL with `$name` parameters in the current transaction; the cursor.

    As `db.execute` runs it (Pony's connection, its reconnect rules, its
    statistics), less the parsing of the statement on PostgreSQL: the batches'
    statements differ in length, so Pony's cache of parsed statements seldom
    has them, and parsing costs more than the round trip. (Webhook statements
    hold no `%` and no `$` but their parameters.)
    """
    if not _postgres():
        return db.execute(sql, params)
    return db._exec_sql(pyformat(sql), params, start_transaction=True)


def bound(prefix: str, values: list) -> tuple[str, dict]:
    """`$prefix0, $prefix1, ...` for raw SQL, with the values they bind: never values in SQL."""
    params = {f"{prefix}{n}": value for n, value in enumerate(values)}
    return ", ".join("$" + name for name in params), params


def column_uuid(value) -> uuid.UUID:
    """A UUID column as raw SQL returns it: a UUID on PostgreSQL, 16 bytes on SQLite."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=bytes(value))


def sql_uuid(value: uuid.UUID):
    """A UUID as raw SQL binds it: PostgreSQL's uuid; on SQLite, the 16 bytes Pony stores."""
    return value if _postgres() else value.bytes


def _postgres() -> bool:
    return db.provider.dialect == "PostgreSQL"
