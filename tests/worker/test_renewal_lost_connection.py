"""A PostgreSQL connection lost in a renewal pass: each transaction whole or not at all, then again.

The pass is cut before each of its statements in turn (fixtures/faults.py;
PostgreSQL only). Its ledger must never hold a renewal payment without the
idempotency record that guards its period, or the other way round, and the
customer is charged once however the pass was cut.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from helpers import wait_for

from models import connection_lost


@pytest.fixture
def renew(gateway, config):
    from worker.billing import run_pass

    return lambda as_of: run_pass(gateway, as_of, config.renewal_retry_schedule)


TIME = "%Y-%m-%dT%H:%M:%SZ"


def due_at(sub: dict) -> datetime:
    """Within the hour before the subscription's period ends: when a pass renews it."""
    return datetime.strptime(sub["end_date"], TIME) - timedelta(minutes=30)


def ledger(observer, sub_id: str) -> list[tuple]:
    """(payment status, record state) of the subscription's renewal charges, matched by id."""
    return observer.rows(
        "SELECT p.status, r.state FROM payments p"
        " FULL JOIN idempotency_records r ON r.last_payment_id = p.id"
        " WHERE (p.kind IS NULL OR p.kind <> 'initial')"
        " AND (p.subscription = %s OR r.key LIKE %s)",
        uuid.UUID(sub_id),
        f"renewal:{sub_id}:%",
    )


def renewed(observer, sub_id: str) -> bool:
    return (
        observer.value(
            "SELECT count(*) FROM events WHERE type = 'subscription.renewed' AND data->>'id' = %s",
            sub_id,
        )
        == 1
    )


def assert_consistent(observer, sub: dict, where: str = "") -> None:
    """Every renewal payment has its record in the matching state; a paid one renewed the period."""
    rows = ledger(observer, sub["id"])
    assert all(row in {("pending", "charging"), ("succeeded", "succeeded")} for row in rows), (
        f"{where}: {rows}"
    )
    paid = ("succeeded", "succeeded") in rows
    sub_id = uuid.UUID(sub["id"])
    start = observer.value("SELECT start_date FROM subscriptions WHERE id = %s", sub_id)
    assert (start.strftime(TIME) == sub["end_date"]) == paid
    assert renewed(observer, sub["id"]) == paid


def renewal_intents(localstripe, sub: dict) -> list[dict]:
    customer = localstripe.payment_intent(sub["payment_id"])["customer"]
    return [
        pi
        for pi in localstripe.payment_intents(customer)
        if pi["metadata"].get("kind") == "renewal" and pi["status"] == "succeeded"
    ]


def test_a_renewal_pass_cut_anywhere_half_writes_nothing_and_charges_once(
    cutter, observer, localstripe, subscriber, renew
):
    _, first = subscriber()
    assert cutter.run(None, lambda: renew(due_at(first))).renewed == 1
    statements = list(cutter.statements)
    observer.rows("UPDATE subscriptions SET auto_renew = false RETURNING id")

    lost = 0
    for n, statement in enumerate(statements, start=1):
        where = f"cut before statement {n}: {statement[:100]!r}"
        _, sub = subscriber()
        error = None
        try:
            cutter.run(n, lambda: renew(due_at(sub)))  # noqa: B023 - called at once
        except Exception as ex:
            error = ex
        assert cutter.cut, f"{where}: the pass made fewer statements this time"
        assert_consistent(observer, sub, where)
        if cutter.cut_in_transaction:
            # The task running the pass sees a lost connection, and runs again.
            assert error is not None and connection_lost(error), f"{where}: {error!r}"
            lost += 1
        else:
            assert error is None, f"{where}: {error!r}"

        renew(due_at(sub))  # the pass again, as the task's retry or the next beat runs it
        assert_consistent(observer, sub, f"after the {where}")
        assert len(renewal_intents(localstripe, sub)) == 1, where
        assert len(ledger(observer, sub["id"])) == 1, where
        observer.rows("UPDATE subscriptions SET auto_renew = false RETURNING id")
    assert lost >= 4


@pytest.mark.redis
def test_the_renewal_task_runs_again_after_losing_its_connection(
    observer, celery_worker, localstripe, subscriber
):
    import psycopg2
    from conftest import DATABASE_URL

    from worker.celery import app

    _, sub = subscriber()
    # Hold the payments table so that the worker's claim stops at its INSERT, mid-transaction
    # (the idempotency record is written before it), and end the worker's connection there.
    holder = psycopg2.connect(DATABASE_URL)
    try:
        holder.cursor().execute("LOCK TABLE payments IN SHARE MODE")
        ours = holder.get_backend_pid()
        app.send_task("billing.renewals", kwargs={"as_of": due_at(sub).strftime(TIME)})
        [(blocked,)] = wait_for(
            lambda: observer.rows(
                "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", ours
            )
        )
        assert observer.value("SELECT pg_terminate_backend(%s, 5000)", blocked)
    finally:
        holder.rollback()
        holder.close()

    wait_for(lambda: renewed(observer, sub["id"]))
    assert ledger(observer, sub["id"]) == [("succeeded", "succeeded")]
    assert len(renewal_intents(localstripe, sub)) == 1
    log = celery_worker.log_path.read_text()
    assert "billing.renewals" in log and "Retry in 1s" in log
