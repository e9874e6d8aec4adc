"""Webhook tasks: one attempt for each of a few deliveries, and the sweeper that re-sends."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from models import url_safety, webhook_outbox
from models.clock import utcnow
from models.transaction import after_commit, transaction
from models.webhook_attempts import Outcome, record_attempts, response_text
from models.webhook_outbox import ATTEMPT_TIMEOUT, BATCH_SIZE, Claim
from models.webhook_signing import secret_key, signed_headers
from telemetry import metrics
from worker.celery import app, config, publish, publish_batches
from worker.clients import webhook_http

# Waits up to this are Celery countdowns (well below the broker's visibility
# timeout); longer ones live only in next_attempt_at and the sweeper sends them.
MAX_COUNTDOWN = 300
# A due delivery is the sweeper's once its own task has had this long to run.
SWEEP_GRACE = 20
SWEEP_BATCH = 1000


@app.task(name="webhooks.deliver", acks_late=True)
def deliver(delivery_ids: list[int]) -> None:
    """Idempotent: deliveries that are done, not due, or held by another worker are left alone."""
    attempt(delivery_ids, config)


@app.task(name="webhooks.sweep", acks_late=True)
def sweep(grace: float = SWEEP_GRACE) -> int:
    """Send tasks for the deliveries that are due and not in flight (lost or long-waiting)."""
    with transaction():
        due = webhook_outbox.due_deliveries(utcnow(), grace, SWEEP_BATCH)
    return publish_batches("webhooks.deliver", "delivery_ids", due, BATCH_SIZE)


def attempt(delivery_ids: list[int], config) -> list[Outcome]:
    """Claim, send outside any transaction, record; schedule the next tries there are."""
    with transaction():
        claims = webhook_outbox.claim(delivery_ids, config.encryption_key)
    if not claims:
        return []
    allow_private = config.webhook_allow_private_urls
    if len(claims) == 1:
        outcomes = [_send(claims[0], allow_private)]
    else:  # in parallel: a slow receiver does not hold up the others
        outcomes = list(_pool().map(lambda c: _send(c, allow_private), claims))
    for outcome in outcomes:
        metrics.WEBHOOK_ATTEMPTS.labels(_outcome_label(outcome)).inc()
    with transaction():
        waits = record_attempts(
            list(zip(claims, outcomes, strict=True)), config.webhook_retry_schedule
        )
        for delivery_id, wait in waits.items():
            if wait <= MAX_COUNTDOWN:
                after_commit(_retry_later(delivery_id, wait))
    return outcomes


def _outcome_label(outcome: Outcome) -> str:
    if outcome.succeeded:
        return "succeeded"
    return "http_error" if outcome.status_code is not None else "no_response"


def _retry_later(delivery_id: int, wait: float):
    return partial(publish, "webhooks.deliver", {"delivery_ids": [delivery_id]}, countdown=wait)


def _send(claim: Claim, allow_private: bool) -> Outcome:
    is_public = None if allow_private else url_safety.is_public_address
    if is_public:
        reason = url_safety.non_public_reason(claim.url)
        if reason:
            return Outcome(utcnow(), 0, error=f"blocked: {reason}")
    headers = signed_headers(
        secret_key(claim.secret), claim.message_id, int(time.time()), claim.body
    )
    started_at = utcnow()
    reply = webhook_http.post(
        claim.url, claim.body, headers, timeout=ATTEMPT_TIMEOUT, is_public=is_public
    )
    return Outcome(
        started_at,
        reply.duration_ms,
        status_code=reply.status_code,
        error=reply.error,
        body=response_text(reply.head),
        retry_after=reply.retry_after,
    )


_pools: dict[int, ThreadPoolExecutor] = {}


def _pool() -> ThreadPoolExecutor:
    """Threads of this process (made after the fork that started it)."""
    pool = _pools.get(os.getpid())
    if pool is None:
        pool = ThreadPoolExecutor(BATCH_SIZE, thread_name_prefix="webhook")
        _pools[os.getpid()] = pool
    return pool
