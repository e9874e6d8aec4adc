"""Renewal passes against a real localstripe: once per period, dunning, recovery, CLI, worker."""

import calendar
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest
from conftest import ROOT
from fixtures.stripe import CARD_CHARGE_DECLINED, CARD_OK
from fixtures.webhooks import WHSEC_SECRET
from helpers import wait_for
from pony import orm
from standardwebhooks import Webhook

CARD_PATH = "/api/v1/subscriptions/current/payment_method"
SUBSCRIPTION_EVENTS = (
    "subscription.created",
    "subscription.canceled",
    "subscription.renewed",
    "subscription.expired",
)


def instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def months_after(start: datetime, count: int) -> datetime:
    """`count` calendar months after `start`, the day clamped to the month's last."""
    index = start.month - 1 + count
    year, month = start.year + index // 12, index % 12 + 1
    return start.replace(
        year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1])
    )


def stored(subscription_id: str) -> dict:
    from models.subscriptions import Subscription

    with orm.db_session:
        sub = Subscription[uuid.UUID(subscription_id)]
        return {
            **sub.to_dict(),
            "failed_attempts": sub.failed_attempts,
            "next_retry_at": sub.next_retry_at,
        }


def renewal_payments(subscription_id: str) -> list[dict]:
    from models.payments import INITIAL, Payment

    key = uuid.UUID(subscription_id)
    with orm.db_session:
        payments = Payment.select(
            lambda p: p.subscription.id == key and p.kind != INITIAL
        ).order_by(Payment.created_at)
        return [p.to_dict() for p in payments]


def event_types() -> list[str]:
    from models.events import Event

    with orm.db_session:
        return [e.type for e in Event.select().order_by(Event.created_at)]


@pytest.fixture
def renew(gateway, config):
    """Run one renewal pass in this process as if it were `as_of`."""
    from worker.billing import run_pass

    def renew(as_of: datetime):
        return run_pass(gateway, as_of, config.renewal_retry_schedule)

    return renew


@pytest.fixture
def change_card(client, localstripe):
    def change(account, number: str):
        body = {"payment_method_id": localstripe.payment_method(number)}
        return client.simulate_put(CARD_PATH, json=body, headers=account.headers)

    return change


def test_a_renewal_charges_once_and_the_next_period_starts_at_the_old_end(
    client, localstripe, subscriber, renew
):
    account, sub = subscriber()
    end = instant(sub["end_date"])

    assert renew(end - timedelta(hours=2)).renewed == 0  # not within the hour yet
    first = renew(end - timedelta(minutes=30))
    second = renew(end - timedelta(minutes=30))  # the same pass again

    assert (first.renewed, second.renewed, second.skipped) == (1, 0, 0)
    renewed = client.simulate_get("/api/v1/subscriptions/current", headers=account.headers).json
    assert renewed["status"] == "active"
    assert renewed["start_date"] == sub["end_date"]
    # Counted from the first start, so a period that began on the 31st keeps ending on it.
    assert instant(renewed["end_date"]) == months_after(instant(sub["start_date"]), 2)
    assert renewed["payment_id"] != sub["payment_id"]
    intents = localstripe.payment_intents(localstripe.payment_intent(sub["payment_id"])["customer"])
    assert [pi["status"] for pi in intents] == ["succeeded", "succeeded"]
    assert intents[1]["id"] == renewed["payment_id"]
    assert intents[1]["metadata"]["kind"] == "renewal"
    [payment] = renewal_payments(sub["id"])
    assert (payment["status"], payment["amount"], payment["provider_id"]) == (
        "succeeded",
        499,
        renewed["payment_id"],
    )
    assert (payment["period_start"], payment["period_end"]) == (
        sub["end_date"],
        renewed["end_date"],
    )
    assert event_types().count("subscription.renewed") == 1
    me = client.simulate_get("/api/v1/users/me", headers=account.headers).json
    assert me["premium_until"] == renewed["end_date"]


def test_a_renewal_missed_for_a_whole_period_is_charged_once_from_the_pass(
    client, localstripe, subscriber, renew
):
    """Beat stopped for months: the missed months are not charged, one by one or at all."""
    account, sub = subscriber()
    as_of = instant(sub["end_date"]) + timedelta(days=100, microseconds=5)

    first = renew(as_of)
    again = renew(as_of)
    later = renew(as_of + timedelta(days=20))

    assert (first.renewed, again.renewed, later.renewed) == (1, 0, 0)
    renewed = client.simulate_get("/api/v1/subscriptions/current", headers=account.headers).json
    start = as_of.replace(microsecond=0)
    assert instant(renewed["start_date"]) == start
    assert instant(renewed["end_date"]) == months_after(start, 1)
    [payment] = renewal_payments(sub["id"])
    assert (payment["status"], payment["amount"]) == ("succeeded", 499)
    assert (payment["period_start"], payment["period_end"]) == (
        renewed["start_date"],
        renewed["end_date"],
    )
    customer = localstripe.payment_intent(sub["payment_id"])["customer"]
    assert len(localstripe.payment_intents(customer)) == 2  # the first month and this one
    # From then on it renews as any other: the next period follows this one.
    next_pass = renew(instant(renewed["end_date"]) - timedelta(minutes=30))
    assert next_pass.renewed == 1
    assert stored(sub["id"])["start_date"] == renewed["end_date"]


def test_a_renewal_missed_by_less_than_a_period_follows_the_paid_one(
    client, localstripe, subscriber, renew
):
    account, sub = subscriber()
    as_of = instant(sub["end_date"]) + timedelta(days=10)

    assert renew(as_of).renewed == 1
    assert renew(as_of).renewed == 0
    renewed = client.simulate_get("/api/v1/subscriptions/current", headers=account.headers).json
    assert renewed["start_date"] == sub["end_date"]
    assert instant(renewed["end_date"]) == months_after(instant(sub["start_date"]), 2)
    assert len(renewal_payments(sub["id"])) == 1


class SlowGateway:
    """The real gateway, with charges that take a while: passes overlap while one is out."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.provider = gateway.provider

    def charge(self, **kwargs):
        time.sleep(0.5)
        return self.gateway.charge(**kwargs)


def test_two_passes_at_once_charge_once(localstripe, subscriber, gateway, config):
    from worker.billing import run_pass

    _, sub = subscriber()
    as_of = instant(sub["end_date"]) - timedelta(minutes=10)
    slow = SlowGateway(gateway)
    start = threading.Barrier(2)
    reports, errors = [], []

    def run(delay: float):
        try:
            start.wait(10)
            time.sleep(delay)  # the second pass starts while the first one's charge is out
            reports.append(run_pass(slow, as_of, config.renewal_retry_schedule))
        except Exception as ex:  # reported below, so the test fails with it
            errors.append(ex)

    threads = [threading.Thread(target=run, args=(delay,)) for delay in (0, 0.2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(r.renewed for r in reports) == [0, 1]
    customer = localstripe.payment_intent(sub["payment_id"])["customer"]
    assert len(localstripe.payment_intents(customer)) == 2  # the first month and one renewal
    assert len(renewal_payments(sub["id"])) == 1
    assert stored(sub["id"])["start_date"] == sub["end_date"]


def test_a_pass_does_not_charge_a_period_whose_charge_is_out(localstripe, subscriber, renew):
    """Another pass is charging it, or died after charging: the outcome is awaited, not redone."""
    from models.renewals import claim_renewal
    from models.transaction import transaction

    _, sub = subscriber()
    as_of = instant(sub["end_date"]) - timedelta(minutes=30)
    with transaction():
        assert claim_renewal(sub["id"], as_of) is not None

    report = renew(as_of)
    assert (report.renewed, report.failed, report.skipped) == (0, 0, 1)
    customer = localstripe.payment_intent(sub["payment_id"])["customer"]
    assert len(localstripe.payment_intents(customer)) == 1
    assert [p["status"] for p in renewal_payments(sub["id"])] == ["pending"]


def test_a_failing_renewal_goes_past_due_is_retried_then_expires(
    client, localstripe, subscriber, renew, change_card
):
    account, sub = subscriber()
    assert change_card(account, CARD_CHARGE_DECLINED).status_code == 200
    end = instant(sub["end_date"])
    first = end - timedelta(minutes=30)

    assert renew(first).failed == 1
    state = stored(sub["id"])
    assert (state["status"], state["failed_attempts"]) == ("past_due", 1)
    assert state["next_retry_at"] == first + timedelta(days=1)
    current = client.simulate_get("/api/v1/subscriptions/current", headers=account.headers)
    assert current.json["status"] == "past_due"
    assert client.simulate_get("/api/v1/users/me", headers=account.headers).json["is_premium"]
    assert renew(first + timedelta(hours=12)).failed == 0  # not due before the retry date

    assert renew(first + timedelta(days=1)).failed == 1
    assert stored(sub["id"])["next_retry_at"] == first + timedelta(days=4)
    assert renew(first + timedelta(days=4)).failed == 1
    assert stored(sub["id"])["next_retry_at"] == first + timedelta(days=11)
    assert renew(first + timedelta(days=11)).failed == 1

    state = stored(sub["id"])
    assert (state["status"], state["end_date"]) == ("expired", sub["end_date"])
    payments = renewal_payments(sub["id"])
    assert [p["kind"] for p in payments] == ["renewal", "retry", "retry", "retry"]
    assert {(p["status"], p["failure_reason"]) for p in payments} == {("failed", "declined")}
    assert {p["period_start"] for p in payments} == {sub["end_date"]}
    assert "subscription.renewed" not in event_types()
    assert event_types().count("subscription.expired") == 1
    assert (
        client.simulate_get("/api/v1/subscriptions/current", headers=account.headers).status_code
        == 404
    )
    me = client.simulate_get("/api/v1/users/me", headers=account.headers).json
    assert me["is_premium"] is False
    assert renew(first + timedelta(days=30)).failed == 0  # nothing more is tried


def test_a_new_card_recovers_a_past_due_subscription_at_once(
    client, localstripe, subscriber, renew, change_card
):
    account, sub = subscriber()
    assert change_card(account, CARD_CHARGE_DECLINED).status_code == 200
    first = instant(sub["end_date"]) - timedelta(minutes=30)
    assert renew(first).failed == 1

    still_bad = change_card(account, CARD_CHARGE_DECLINED)
    assert still_bad.status_code == 402
    assert still_bad.json["error"]["details"]["reason"] == "declined"
    state = stored(sub["id"])
    assert (state["status"], state["failed_attempts"]) == ("past_due", 1)  # a manual try is free

    fixed = change_card(account, CARD_OK)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json["status"] == "active"
    assert fixed.json["start_date"] == sub["end_date"]
    assert instant(fixed.json["end_date"]) > instant(sub["end_date"])
    assert localstripe.payment_intent(fixed.json["payment_id"])["status"] == "succeeded"
    assert [p["status"] for p in renewal_payments(sub["id"])] == ["failed", "failed", "succeeded"]
    assert event_types().count("subscription.renewed") == 1
    assert renew(first + timedelta(days=1)).renewed == 0  # the period is paid


def test_the_cli_runs_a_pass_as_of_an_instant(localstripe, subscriber):
    _, sub = subscriber()
    as_of = (instant(sub["end_date"]) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    command = [sys.executable, "-m", "api.cli", "renewals", "--as-of", as_of]

    done = subprocess.run(command, cwd=ROOT, env=os.environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "renewed 1" in done.stdout
    again = subprocess.run(command, cwd=ROOT, env=os.environ, capture_output=True, text=True)
    assert "renewed 0" in again.stdout
    assert stored(sub["id"])["start_date"] == sub["end_date"]
    assert len(renewal_payments(sub["id"])) == 1

    bad = subprocess.run(
        [*command[:-1], "next tuesday"], cwd=ROOT, env=os.environ, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "ISO-8601" in bad.stderr


@pytest.mark.redis
def test_the_worker_runs_the_renewal_task(celery_worker, localstripe, subscriber):
    from worker.celery import app

    _, sub = subscriber()
    as_of = instant(sub["end_date"]) - timedelta(minutes=5)
    app.send_task("billing.renewals", kwargs={"as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ")})

    wait_for(lambda: stored(sub["id"])["start_date"] == sub["end_date"])
    assert len(renewal_payments(sub["id"])) == 1


@pytest.mark.redis
def test_subscription_events_reach_a_real_receiver(
    client, celery_worker, receiver, register_webhook, subscriber, renew
):
    register_webhook(receiver.url, events=SUBSCRIPTION_EVENTS, secret=WHSEC_SECRET)
    account, sub = subscriber()
    renew(instant(sub["end_date"]) - timedelta(minutes=30))
    assert (
        client.simulate_post("/api/v1/subscriptions/cancel", headers=account.headers).status_code
        == 200
    )

    received = receiver.wait_for(3)
    verifier = Webhook(WHSEC_SECRET)
    payloads = [verifier.verify(r.body, r.headers) for r in received]
    by_type = {p["type"]: p["data"] for p in payloads}
    assert set(by_type) == {
        "subscription.created",
        "subscription.renewed",
        "subscription.canceled",
    }
    assert by_type["subscription.created"]["id"] == sub["id"]
    assert by_type["subscription.created"]["user_id"] == account.id
    assert by_type["subscription.renewed"]["start_date"] == sub["end_date"]
    assert by_type["subscription.canceled"]["status"] == "canceled"
