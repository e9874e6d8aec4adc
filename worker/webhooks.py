"""Webhook tasks: claim deliveries for this process's senders; send what is due; the sweeper.

Many attempts are in flight per worker process, so that a slow receiver costs
waiting, not a worker slot. A task only claims deliveries (a lease in the
database, models.webhook_claims) and hands them to the process's senders: up
to WEBHOOK_CONCURRENCY attempts in flight on one event loop thread (an attempt
waiting on a receiver costs a coroutine, not a thread). A recorder thread stores
finished attempts in batches (one transaction for many) and, in the same
transaction, hands their places to what is due next at the same endpoints, so
an endpoint's backlog flows as fast as its limit allows. An event loop and a
recorder inside the prefork worker rather than a gevent or threads pool for the
whole worker: the one `worker` command keeps serving every queue, the other
domains keep their processes to themselves, nothing is monkey-patched
(psycopg2, redis), and a worker of its own for the webhooks queue runs the same
code. One loop rather than a thread per attempt because an attempt to a healthy
receiver is short: with dozens of threads taking turns at the interpreter, the
turns cost more than the attempts.

A task is acknowledged once its deliveries are handed over. That loses
nothing: the lease is the record of an attempt in flight, and if this process
dies the lease runs out and the sweeper sends the delivery again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial

from celery import signals

from models import url_safety
from models.clock import utcnow
from models.transaction import after_commit, transaction
from models.webhook_attempts import Outcome, record_attempts, response_text
from models.webhook_breaker import Breaker
from models.webhook_claims import (
    ATTEMPT_TIMEOUT,
    CONNECT_TIMEOUT,
    Claim,
    Limits,
    claim,
    claim_due,
    commit_without_waiting_for_disk,
    pass_on,
)
from models.webhook_outbox import endpoints_with_due
from models.webhook_signing import secret_key, signed_headers
from models.webhooks import SEND_DUE_TASK
from settings import Config
from telemetry import metrics
from worker.celery import app, config, publish
from worker.clients import webhook_http

log = logging.getLogger(__name__)

# Waits up to this are Celery countdowns (well below the broker's visibility
# timeout); longer ones live only in next_attempt_at and the sweeper sends them.
MAX_COUNTDOWN = 300
# A due delivery is the sweeper's once its own task has had this long to run.
SWEEP_GRACE = 20
# Finished attempts recorded in one transaction, at most, and how long the recorder
# waits after the first of them for more (attempts to a healthy receiver take a
# millisecond or two; a transaction per attempt would cost far more).
RECORD_BATCH = 200
RECORD_WAIT = 0.005
# Closing waits for the attempts in flight and for their records, this long after them.
CLOSE_GRACE = 10


def limits(config: Config) -> Limits:
    breaker = Breaker(
        failures=config.webhook_breaker_failures,
        pause=config.webhook_breaker_pause,
        max_pause=config.webhook_breaker_max_pause,
        disable_after=config.webhook_disable_after,
    )
    return Limits(config.webhook_endpoint_concurrency, breaker)


@app.task(name="webhooks.deliver", acks_late=True)
def deliver(delivery_ids: list[int]) -> int:
    """Idempotent: deliveries that are done, not due, or held by another worker are left alone.

    Those whose endpoint has no room now are left too: they are claimed as the
    attempts in flight there finish, or by the sweeper.
    """
    senders, pending, started = _senders(), set(delivery_ids), 0
    offered = 0

    def claim_pending(most: int) -> list[Claim]:
        nonlocal offered
        offered = most
        return claim(list(pending), config.encryption_key, LIMITS, most)

    while pending:
        taken = senders.start(claim_pending)
        started += len(taken)
        pending -= {c.delivery_id for c in taken}
        # Fewer than it had senders for: what is left is done, held, or waits for room.
        if not taken or len(taken) < offered:
            break
    return started


@app.task(name=SEND_DUE_TASK, acks_late=True)
def send_due(endpoint_id: str) -> int:
    """Start what is due for one endpoint: after its pause (the probe), a resume, a sweep."""
    endpoint = uuid.UUID(endpoint_id)
    return len(
        _senders().start(lambda most: claim_due([endpoint], config.encryption_key, LIMITS, most))
    )


@app.task(name="webhooks.sweep", acks_late=True)
def sweep(grace: float = SWEEP_GRACE) -> int:
    """Send what is due and not in flight (lost or long-waiting), endpoint by endpoint."""
    with transaction():
        endpoints = endpoints_with_due(utcnow(), grace)
    for endpoint_id in endpoints:
        publish(send_due.name, {"endpoint_id": str(endpoint_id)})
    return len(endpoints)


def attempt(delivery_ids: list[int], config: Config) -> list[Outcome]:
    """One round in the calling thread: claim, send one by one, record (no continuation)."""
    with transaction():
        claims = claim(delivery_ids, config.encryption_key, limits(config), len(delivery_ids))
    results = [(c, send(c, config.webhook_allow_private_urls)) for c in claims]
    with transaction():
        record_attempts(results, config.webhook_retry_schedule, limits(config).breaker)
    return [outcome for _claim, outcome in results]


def _outcome_label(outcome: Outcome) -> str:
    if outcome.succeeded:
        return "succeeded"
    return "http_error" if outcome.status_code is not None else "no_response"


def send(claim: Claim, allow_private: bool) -> Outcome:
    """One signed POST from synchronous code, on a connection of its own."""
    return webhook_http.run_apart(partial(_send_once, claim, allow_private))


async def _send_once(claim: Claim, allow_private: bool) -> Outcome:
    client = webhook_http.Client(None if allow_private else url_safety.is_public_address)
    try:
        return await send_on(client, claim)
    finally:
        await client.close()


async def send_on(client: webhook_http.Client, claim: Claim) -> Outcome:
    """One signed POST on `client`'s connections (only to public addresses if it judges them)."""
    headers = signed_headers(
        secret_key(claim.secret), claim.message_id, int(time.time()), claim.body
    )
    started_at = utcnow()
    reply = await client.post(
        claim.url, claim.body, headers, timeout=ATTEMPT_TIMEOUT, connect_timeout=CONNECT_TIMEOUT
    )
    outcome = Outcome(
        started_at,
        reply.duration_ms,
        status_code=reply.status_code,
        error=reply.error,
        body=response_text(reply.head),
        retry_after=reply.retry_after,
    )
    metrics.WEBHOOK_ATTEMPTS.labels(_outcome_label(outcome)).inc()
    return outcome


class Senders:
    """This process's attempts in flight: at most `size`, all on one event loop of their own.

    Three threads: the caller's (a task) claims, the loop's sends, the
    recorder's records; the database is only touched outside the loop. A
    sender (a place among the `size`) is taken by a claim and given back once
    its attempt is recorded: the recorder hands it on to the endpoint's next
    due delivery in the same transaction, or to a task waiting for senders.
    """

    def __init__(self, size: int, config: Config):
        self.size = size
        self.config = config
        self._free = threading.BoundedSemaphore(size)
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = False
        self._waiting = 0  # tasks waiting for a free sender
        self._loop = asyncio.new_event_loop()
        self._client = webhook_http.Client(
            None if config.webhook_allow_private_urls else url_safety.is_public_address
        )
        self._attempts: set[asyncio.Task] = set()
        self._sender = threading.Thread(target=self._loop.run_forever, name="webhook-sender")
        self._sender.start()
        self._recorder = threading.Thread(target=self._record_forever, name="webhook-recorder")
        self._recorder.start()

    def start(self, claim: Callable[[int], list[Claim]], wait: bool = True) -> list[Claim]:
        """Claim as many as there are free senders (waiting for one if `wait`); send them."""
        free = self._take(wait)
        return self._run(claim, free) if free else []

    def close(self) -> None:
        """Let the attempts in flight finish (ATTEMPT_TIMEOUT at most) and record them."""
        self._closing = True
        deadline = time.monotonic() + ATTEMPT_TIMEOUT + CLOSE_GRACE
        for _ in range(self.size):  # every sender back: nothing in flight or unrecorded
            if not self._free.acquire(timeout=max(0.0, deadline - time.monotonic())):
                log.warning("closing with webhook attempts in flight; their leases run out")
                break
        asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._sender.join()
        self._loop.close()
        self._done.put(None)
        self._recorder.join()

    def _take(self, wait: bool) -> int:
        if self._closing:
            return 0
        if not self._free.acquire(blocking=False):
            if not wait:
                return 0
            self._waiting += 1
            try:
                self._free.acquire()
            finally:
                self._waiting -= 1
        taken = 1
        while taken < self.size and self._free.acquire(blocking=False):
            taken += 1
        return taken

    def _run(
        self, work: Callable[[int], list[Claim]], free: int, held: int | None = None
    ) -> list[Claim]:
        """`work(free)` in a transaction; after commit, an attempt for each claim it returns.

        `held` senders (`free` unless told: a claim) are given back but for those
        claims. A recording, or a claim that took leases, commits without waiting
        for the disk: told after the work (the setting counts at commit), so that
        the many claims that find nothing to lease save the statement.
        """
        claims: list[Claim] = []
        try:
            with transaction():
                claims = work(free)
                if claims or held is not None:
                    commit_without_waiting_for_disk()
        finally:
            for _ in range((free if held is None else held) - len(claims)):
                self._free.release()
        if claims:
            self._loop.call_soon_threadsafe(self._send_all, claims)
        return claims

    def _send_all(self, claims: list[Claim]) -> None:
        for taken in claims:
            task = self._loop.create_task(self._attempt(taken))
            self._attempts.add(task)
            task.add_done_callback(self._attempts.discard)

    async def _attempt(self, claim: Claim) -> None:
        try:
            outcome = await send_on(self._client, claim)
        except Exception as ex:  # a bug, not an answer: recorded as a failed attempt
            log.exception("webhook attempt of delivery %s failed", claim.delivery_id)
            outcome = Outcome(utcnow(), 0, error=f"internal error: {type(ex).__name__}")
        self._done.put((claim, outcome))  # its sender is given back once it is recorded

    def _record_forever(self) -> None:
        while True:
            batch = [self._done.get()]
            # A moment for more to finish: one transaction records them all. Asleep
            # rather than waiting on the queue, which would wake for each of them.
            if batch[0] is not None and self._done.qsize() < RECORD_BATCH:
                time.sleep(RECORD_WAIT)
            while len(batch) < RECORD_BATCH and batch[-1] is not None:
                try:
                    batch.append(self._done.get_nowait())
                except queue.Empty:
                    break
            finished = [result for result in batch if result is not None]
            if finished:
                self._record(finished)
            if None in batch:
                return

    def _record(self, results: list[tuple[Claim, Outcome]]) -> None:
        """Store a batch of attempts; their places go to what is due next at the same endpoints."""

        def record_then_pass_on(free: int) -> list[Claim]:
            settled = record_attempts(results, self.config.webhook_retry_schedule, LIMITS.breaker)
            for delivery_id, wait in settled.retries.items():
                if wait <= MAX_COUNTDOWN:
                    after_commit(_later(deliver, wait, delivery_ids=[delivery_id]))
            for endpoint_id, pause in settled.pauses.items():
                if pause <= MAX_COUNTDOWN:  # the probe; longer pauses end with a sweep
                    after_commit(_later(send_due, pause, endpoint_id=str(endpoint_id)))
            for endpoint_id in settled.closed:  # the probe succeeded: room for more at once
                after_commit(_later(send_due, 0, endpoint_id=str(endpoint_id)))
            # Without a free sender, what is due waits for the next batch or the sweeper.
            return pass_on(settled.places, self.config.encryption_key, free)

        # The batch's senders go on to the same endpoints' next deliveries. With tasks
        # waiting for senders (their deliveries may be at endpoints with nothing in
        # flight, which nothing hands places to), half go to them; every endpoint of
        # the batch keeps one, so no backlog that flows stops flowing.
        held = len(results)
        free = held
        if self._closing:
            free = 0
        elif self._waiting:
            endpoints = len({claim.endpoint_id for claim, _outcome in results})
            free = min(held, max(endpoints, (held + 1) // 2))
        try:
            self._run(record_then_pass_on, free, held)
        except Exception:
            # Not recorded: the leases run out and the sweeper sends these again.
            log.exception("recording %d webhook attempts failed", len(results))


def _later(task, countdown: float, **kwargs) -> Callable[[], object]:
    return partial(publish, task.name, kwargs, countdown=countdown)


LIMITS = limits(config)
_senders_of: dict[int, Senders] = {}
_lock = threading.Lock()


def _senders() -> Senders:
    """The senders of this process (made after the fork that started it)."""
    with _lock:
        senders = _senders_of.get(os.getpid())
        if senders is None:
            senders = _senders_of[os.getpid()] = Senders(config.webhook_concurrency, config)
        return senders


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _finish_attempts(**_kwargs) -> None:
    senders = _senders_of.pop(os.getpid(), None)
    if senders is not None:
        senders.close()
