"""A PostgreSQL connection lost mid-request: the request succeeds whole or fails whole (503).

Each test sends one kind of request once per statement it makes, its own
connection cut before that statement (fixtures/faults.py; PostgreSQL only). A
cut while a transaction is open must answer 503 with Retry-After and commit
nothing; a connection that died while no transaction was open is replaced
unseen and the request succeeds. Either way the next request gets a working
connection.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fixtures.faults import changed
from helpers import purge_queues

ZELLYY_UNAVAILABLE = {
    "error": {
        "code": "service_unavailable",
        "message": "The service is briefly unavailable; try again shortly",
        "details": {"retry_after": 2},
    }
}
RABBIT_UNAVAILABLE = {"error": "일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도하세요."}
# Recipients whose message_totals row disagrees with their messages.
TOTALS_OFF = (
    "SELECT t.recipient_id FROM message_totals t"
    " WHERE (t.message_count, t.total_amount) <> (SELECT count(*), coalesce(sum(m.amount), 0)"
    " FROM messages m WHERE m.recipient_id = t.recipient_id)"
)


@pytest.fixture(autouse=True)
def _no_worker_writes(client, config, monkeypatch):
    """A worker writing rows meanwhile (webhook attempts, mails marked sent) would look
    like the request's doing: the requests' tasks stay here (the app registered its
    publisher: this one replaces it), and what earlier tests queued is dropped (ids start
    again from 1 in each test: a late task would act on this test's rows). The run's
    worker has not started: tests that need it run last (conftest.py)."""
    from models import tasks

    monkeypatch.setattr(tasks, "_publisher", lambda name, kwargs: None)
    purge_queues(config)


def cut_each_statement(
    cutter, observer, request: Callable, status: int, unavailable: dict, invariant: Callable
) -> None:
    """Send `request(n)` with its connection cut before statement n, for every n.

    `status` is the request's success status, `unavailable` the body of its
    503; `invariant(observer)` checks the counters that must agree with the
    rows after every request. After each cut the client tries again: the same
    request after a 503 (its work was lost, so it goes through), a new one
    after a success.
    """
    before = observer.snapshot()
    reference = cutter.run(None, lambda: request(0))
    assert reference.status_code == status, reference.text
    effect = changed(before, observer.snapshot())
    statements = list(cutter.statements)
    assert statements[-1] == "COMMIT"

    lost = []
    for n, statement in enumerate(statements, start=1):
        where = f"cut before statement {n}: {statement[:100]!r}"
        before = observer.snapshot()
        resp = cutter.run(n, lambda: request(n))  # noqa: B023 - called at once
        assert cutter.cut, f"{where}: the request made fewer statements this time"
        if cutter.cut_in_transaction:
            assert (resp.status_code, resp.json) == (503, unavailable), where
            assert int(resp.headers["retry-after"]) >= 1
            assert "location" not in resp.headers
            assert observer.snapshot() == before, f"{where}: something was committed"
        else:
            assert resp.status_code == status, f"{where}: {resp.status_code} {resp.text}"
            assert changed(before, observer.snapshot()) == effect, where
        invariant(observer)
        again = cutter.run(None, lambda: request(n if resp.status_code == 503 else -n))  # noqa: B023
        assert again.status_code == status, f"after the {where}: {again.text}"
        invariant(observer)
        lost.append(resp.status_code == 503)
    # The request's work is one transaction: a cut of its COMMIT loses it too.
    assert lost[-1] and sum(lost) >= 2, lost


def test_a_card_is_created_whole_or_not_at_all(cutter, observer, client, zellyy_signup):
    account = zellyy_signup()

    def create(n):
        body = {"content": f"card {n}", "tags": ["one", "two"]}
        return client.simulate_post("/api/v1/cards", json=body, headers=account.headers)

    def counts_agree(observer):
        # card_counts holds as many cards as there are, for every owner; every card has its tags.
        assert (
            observer.rows(
                "SELECT c.owner FROM card_counts c"
                " WHERE c.cards <> (SELECT count(*) FROM cards WHERE owner = c.owner)"
            )
            == []
        )
        assert (
            observer.value(
                "SELECT count(*) FROM cards WHERE id NOT IN (SELECT card FROM card_tags)"
            )
            == 0
        )

    create(-1)  # the owner's counter row exists: every create below takes the same path
    cut_each_statement(cutter, observer, create, 201, ZELLYY_UNAVAILABLE, counts_agree)

    listed = client.simulate_get("/api/v1/cards?limit=100", headers=account.headers).json
    assert listed["pagination"]["total"] == observer.value("SELECT count(*) FROM cards")


def test_a_money_gift_is_given_whole_or_not_at_all(cutter, observer, client, rabbit_register):
    recipient = rabbit_register(username="받는토끼")
    sender = rabbit_register(username="주는토끼")

    def give(n):
        body = {"message": f"새해 복 {n}", "amount": 1000, "is_moneybag": False}
        path = f"/api/user/{recipient.id}/messages"
        return client.simulate_post(path, json=body, headers=sender.headers)

    def totals_agree(observer):
        assert observer.rows(TOTALS_OFF) == []

    give(-1)
    cut_each_statement(cutter, observer, give, 201, RABBIT_UNAVAILABLE, totals_agree)

    profile = client.simulate_get(f"/api/user/{recipient.id}").json["user_info"]
    assert profile["total_amount"] == observer.value("SELECT sum(amount) FROM messages")


def test_a_zellyy_sign_up_happens_whole_or_not_at_all(
    cutter, observer, client, register_webhook, receiver, monkeypatch
):
    from worker.celery import app

    # A webhook endpoint: each sign-up also writes its user.created event and delivery.
    register_webhook(receiver.url, events=["user.created"])
    # Its tasks (the delivery, the confirmation mail) stay here: a worker that ran them
    # meanwhile would write rows of its own between the snapshots.
    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: None)

    def sign_up(n):
        body = {"email": f"new-{n}@example.com", "password": "password 1", "username": "new"}
        return client.simulate_post("/api/v1/auth/signup", json=body)

    def each_user_once(observer):
        users = observer.value("SELECT count(*) FROM users WHERE NOT is_admin")
        assert observer.value("SELECT count(*) FROM webhook_deliveries") == users
        assert observer.value("SELECT count(*) FROM auth_sessions") == users + 1  # + the admin's
        assert observer.value("SELECT count(*) FROM events WHERE type = 'user.created'") == (
            users + 1
        )

    cut_each_statement(cutter, observer, sign_up, 200, ZELLYY_UNAVAILABLE, each_user_once)


def test_a_money_for_rabbit_registration_happens_whole_or_not_at_all(cutter, observer, client):
    def register(n):
        body = {"email": f"rabbit-{n}@example.com", "password": "Rabbitpass12!", "username": "토끼"}
        return client.simulate_post("/api/user/register", json=body)

    def each_user_once(observer):
        assert observer.value("SELECT count(*) FROM users") == observer.value(
            "SELECT count(*) FROM events WHERE type = 'user.created'"
        )

    cut_each_statement(cutter, observer, register, 201, RABBIT_UNAVAILABLE, each_user_once)
