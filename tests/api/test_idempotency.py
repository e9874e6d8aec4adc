"""Idempotency-Key on every creating POST: replays, reuse, callers, races, expiry, bad keys."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import requests
from conftest import APP_URL, ENGINE
from fixtures.accounts import RABBIT_PASSWORD, ZELLYY_PASSWORD, unique_email
from fixtures.stripe import CARD_CHARGE_DECLINED
from helpers import at_once, wait_for
from pony import orm

from api.rabbit.errors import IDEMPOTENCY_KEY_INVALID, IDEMPOTENCY_KEY_REUSED
from models import db
from models.cards import Card
from models.clock import utcnow
from models.crypto import decrypt
from models.idempotency import TTL, IdempotencyKey
from models.messages import Message
from models.payments import Payment
from models.shares import Share
from models.users import User
from models.webhooks import WebhookEndpoint

REPLAYED = "Idempotent-Replayed"


@dataclass
class Create:
    """One creating POST, ready to send, and a count of what it creates."""

    path: str
    body: dict
    other_body: dict  # a different request to the same path
    headers: dict
    counted: Callable[[], int]
    surface: str = "zellyy"
    created: list = field(default_factory=list)

    def post(self, client, key: str | None, body: dict | None = None, path: str | None = None):
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return client.simulate_post(path or self.path, json=body or self.body, headers=headers)


def count(entity) -> int:
    with orm.db_session:
        return entity.select().count()


def keys() -> int:
    return count(IdempotencyKey)


def _signup(get) -> Create:
    body = {"email": unique_email(), "password": ZELLYY_PASSWORD, "username": "ann"}
    return Create(
        "/api/v1/auth/signup", body, {**body, "username": "anna"}, {}, lambda: count(User)
    )


def _card(get) -> Create:
    return card_of(get("zellyy_signup")())


def card_of(account) -> Create:
    return Create(
        "/api/v1/cards",
        {"content": "Hello"},
        {"content": "Bye"},
        account.headers,
        lambda: count(Card),
    )


def _share(get) -> Create:
    client, platforms = get("client"), get("platforms")
    ann = get("zellyy_signup")()
    platforms.account("facebook", "fb-token", "page-100")
    connected = client.simulate_post(
        "/api/v1/social/connect/facebook", json={"access_token": "fb-token"}, headers=ann.headers
    )
    assert connected.status_code == 200, connected.text
    card = client.simulate_post("/api/v1/cards", json={"content": "Hi"}, headers=ann.headers)
    return Create(
        f"/api/v1/cards/{card.json['id']}/share/facebook",
        {"message": "Look!"},
        {"message": "Look again!"},
        ann.headers,
        lambda: count(Share),
    )


def _subscription(get) -> Create:
    localstripe = get("localstripe")
    ann = get("zellyy_signup")()
    body = {"plan_id": "monthly", "payment_method_id": localstripe.payment_method()}
    # Every charge attempt is a payment row: a second charge would show.
    return Create(
        "/api/v1/subscriptions",
        body,
        {**body, "plan_id": "yearly"},
        ann.headers,
        lambda: count(Payment),
    )


def _webhook(get) -> Create:
    body = {"url": "http://127.0.0.1:9/hook", "events": ["user.created"], "secret": "s3cret-s3cret"}
    return Create(
        "/api/v1/webhooks",
        body,
        {**body, "events": ["card.shared"]},
        get("admin_headers"),
        lambda: count(WebhookEndpoint),
    )


def _register(get) -> Create:
    body = {"email": unique_email("rabbit"), "password": RABBIT_PASSWORD, "username": "토끼"}
    return Create(
        "/api/user/register",
        body,
        {**body, "username": "거북이"},
        {},
        lambda: count(User),
        "rabbit",
    )


def _message(get) -> Create:
    register = get("rabbit_register")
    to, author = register(username="받는이"), register(username="주는이")
    body = {"message": "새해 복 많이 받아!", "amount": 5000, "is_moneybag": False}
    return Create(
        f"/api/user/{to.id}/messages",
        body,
        {**body, "amount": 10000},
        author.headers,
        lambda: count(Message),
        "rabbit",
    )


CREATES = {
    "zellyy-signup": _signup,
    "zellyy-card": _card,
    "zellyy-share": _share,
    "zellyy-subscription": _subscription,
    "zellyy-webhook": _webhook,
    "rabbit-register": _register,
    "rabbit-message": _message,
}


@pytest.fixture(params=list(CREATES))
def create(request) -> Create:
    return CREATES[request.param](request.getfixturevalue)


@pytest.fixture(autouse=True)
def sent_tasks(monkeypatch) -> list[str]:
    """Names of the tasks this process sends (mail, deliveries, shares): a replay sends none."""
    from worker.celery import app

    sent: list[str] = []
    monkeypatch.setattr(app, "send_task", lambda name, *args, **kwargs: sent.append(name))
    return sent


def test_a_retry_with_the_key_replays_the_first_answer_and_does_nothing_again(
    client, create, sent_tasks
):
    before = create.counted()

    first = create.post(client, "retry-1")
    tasks = list(sent_tasks)
    again = create.post(client, "retry-1")

    assert first.status_code in (200, 201, 202), first.text
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers.get("location") == first.headers.get("location")
    assert create.counted() == before + 1
    assert sent_tasks == tasks  # no second mail, delivery or share task either
    assert keys() == 1


def test_the_same_key_for_another_request_is_422_and_does_nothing(client, create):
    first = create.post(client, "reused")
    before = create.counted()

    other = create.post(client, "reused", body=create.other_body)

    assert first.status_code < 300, first.text
    assert other.status_code == 422
    if create.surface == "rabbit":
        assert other.json == {"error": IDEMPOTENCY_KEY_REUSED}
    else:
        assert other.json["error"]["code"] == "idempotency_key_reused"
    assert create.counted() == before


def test_the_same_key_on_another_path_is_422(client, zellyy_signup):
    ann = zellyy_signup()
    headers = {**ann.headers, "Idempotency-Key": "one-key"}
    first = client.simulate_post("/api/v1/cards", json={"content": "a"}, headers=headers)

    other = client.simulate_post("/api/cards", json={"content": "a"}, headers=headers)

    assert first.status_code == 201
    assert other.status_code == 422
    assert count(Card) == 1


def test_without_a_key_every_post_creates(client, zellyy_signup):
    ann = zellyy_signup()

    answers = [
        client.simulate_post("/api/v1/cards", json={"content": "a"}, headers=ann.headers)
        for _ in range(2)
    ]

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json["id"] != answers[1].json["id"]
    assert all(REPLAYED not in a.headers for a in answers)
    assert count(Card) == 2
    assert keys() == 0


def test_keys_belong_to_the_caller(client, zellyy_signup):
    ann, bob = zellyy_signup(username="ann"), zellyy_signup(username="bob")

    answers = [
        client.simulate_post(
            "/api/v1/cards",
            json={"content": "same"},
            headers={**who.headers, "Idempotency-Key": "shared-key"},
        )
        for who in (ann, bob)
    ]

    assert [a.status_code for a in answers] == [201, 201]
    assert all(REPLAYED not in a.headers for a in answers)
    assert answers[0].json["id"] != answers[1].json["id"]
    assert count(Card) == 2


def test_sign_up_keys_belong_to_the_email_and_replay_only_the_identical_request(client):
    def signup(email: str, password: str = ZELLYY_PASSWORD):
        body = {"email": email, "password": password, "username": "ann"}
        return client.simulate_post(
            "/api/v1/auth/signup", json=body, headers={"Idempotency-Key": "signup-key"}
        )

    ann_email = unique_email("ann")
    ann = signup(ann_email)
    bob = signup(unique_email("bob"))  # another account, the same key: its own sign-up
    # Someone who knows Ann's email and key but not her password gets nothing of hers.
    intruder = signup(ann_email.upper(), password="not her password")
    replay = signup(ann_email)

    assert (ann.status_code, bob.status_code) == (200, 200)
    assert bob.json["user"]["id"] != ann.json["user"]["id"]
    assert intruder.status_code == 422
    assert ann.json["session"]["access_token"] not in intruder.text
    assert replay.headers[REPLAYED] == "true"
    assert replay.json == ann.json
    assert count(User) == 2


def test_a_refused_request_leaves_no_key_and_its_retry_runs_again(client, platforms, zellyy_signup):
    ann = zellyy_signup()
    card = client.simulate_post("/api/v1/cards", json={"content": "Hi"}, headers=ann.headers)
    headers = {**ann.headers, "Idempotency-Key": "share-1"}
    path = f"/api/v1/cards/{card.json['id']}/share/instagram"

    refused = client.simulate_post(path, json={"message": "x"}, headers=headers)
    assert refused.status_code == 400  # not connected: rolled back, key and all
    assert keys() == 0
    platforms.account("instagram", "ig-token", "ig-200")
    client.simulate_post(
        "/api/v1/social/connect/instagram", json={"access_token": "ig-token"}, headers=ann.headers
    )
    retried = client.simulate_post(path, json={"message": "x"}, headers=headers)

    assert retried.status_code == 202, retried.text
    assert REPLAYED not in retried.headers
    assert count(Share) == 1
    assert keys() == 1


def test_a_declined_charge_is_kept_and_replayed_not_charged_again(
    client, localstripe, zellyy_signup
):
    ann = zellyy_signup()
    body = {
        "plan_id": "monthly",
        "payment_method_id": localstripe.payment_method(CARD_CHARGE_DECLINED),
    }
    headers = {**ann.headers, "Idempotency-Key": "declined"}

    first = client.simulate_post("/api/v1/subscriptions", json=body, headers=headers)
    again = client.simulate_post("/api/v1/subscriptions", json=body, headers=headers)

    # The declined attempt commits (the ledger keeps it), and so does its answer.
    assert first.status_code == 402, first.text
    assert again.status_code == 402
    assert again.headers[REPLAYED] == "true"
    assert again.json == first.json
    assert count(Payment) == 1
    customer = localstripe.customers(ann.email)[0]["id"]
    assert len(localstripe.payment_intents(customer)) == 1


def test_a_key_expires_after_24_hours(client, zellyy_signup):
    ann = zellyy_signup()
    headers = {**ann.headers, "Idempotency-Key": "daily"}
    first = client.simulate_post("/api/v1/cards", json={"content": "a"}, headers=headers)

    age(TTL - timedelta(seconds=5))
    within = client.simulate_post("/api/v1/cards", json={"content": "a"}, headers=headers)
    age(TTL + timedelta(seconds=1))
    after = client.simulate_post("/api/v1/cards", json={"content": "a"}, headers=headers)
    replay_of_the_new_one = client.simulate_post(
        "/api/v1/cards", json={"content": "a"}, headers=headers
    )

    assert within.headers[REPLAYED] == "true"
    assert within.json["id"] == first.json["id"]
    assert after.status_code == 201
    assert REPLAYED not in after.headers
    assert after.json["id"] != first.json["id"]
    assert replay_of_the_new_one.json["id"] == after.json["id"]
    assert count(Card) == 2
    assert keys() == 1


def age(by: timedelta) -> None:
    """Travel in time: every stored key was made `by` ago."""
    with orm.db_session:
        db.execute("UPDATE idempotency_keys SET created_at = $when", {}, {"when": utcnow() - by})


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 256, "tab\there", "bell\x07", "del\x7f", "caf\u00e9", '"\\n"'],
    ids=["empty", "blank", "256-chars", "tab", "control", "del", "non-ascii", "bad-escape"],
)
@pytest.mark.parametrize("surface", ["zellyy", "rabbit"])
def test_malformed_keys_are_400_in_the_dialect(
    client, zellyy_signup, rabbit_register, key, surface
):
    if surface == "zellyy":
        target = card_of(zellyy_signup())
    else:
        to, author = rabbit_register(), rabbit_register()
        body = {"message": "복", "amount": 100, "is_moneybag": False}
        target = Create(f"/api/user/{to.id}/messages", body, body, author.headers, lambda: 0)
    before = target.counted()

    resp = target.post(client, key)

    assert resp.status_code == 400
    if surface == "rabbit":
        assert resp.json == {"error": IDEMPOTENCY_KEY_INVALID}
    else:
        assert resp.json["error"]["code"] == "invalid_request"
        assert "Idempotency-Key" in resp.json["error"]["details"]
    assert target.counted() == before
    assert keys() == 0


def test_the_longest_key_and_the_quoted_form_are_accepted(client, zellyy_signup):
    ann = zellyy_signup()
    longest = "k" * 255
    first = card_of(ann).post(client, longest)
    # The draft standard's structured-field string names the same key.
    quoted = card_of(ann).post(client, f'"{longest}"')

    assert first.status_code == 201
    assert quoted.headers[REPLAYED] == "true"
    assert count(Card) == 1


def test_stored_answers_are_encrypted(client, config):
    body = {"email": unique_email(), "password": ZELLYY_PASSWORD, "username": "ann"}
    resp = client.simulate_post(
        "/api/v1/auth/signup", json=body, headers={"Idempotency-Key": "sealed"}
    )

    with orm.db_session:
        [row] = IdempotencyKey.select()[:]
        stored, fingerprint = row.answer, row.fingerprint
    refresh_token = resp.json["session"]["refresh_token"]
    assert refresh_token not in stored and body["email"] not in stored
    answer = json.loads(decrypt(stored, config.encryption_key))
    assert base64.b64decode(answer["body"]) == resp.content
    assert ZELLYY_PASSWORD not in fingerprint


def test_concurrent_requests_with_one_key_create_once(live_app, zellyy_signup):
    ann = zellyy_signup()
    headers = {**ann.headers, "Idempotency-Key": f"race-{uuid.uuid4()}"}

    answers = at_once([lambda: post_http("/api/v1/cards", {"content": "race"}, headers)] * 8)

    assert [a.status_code for a in answers] == [201] * 8
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(REPLAYED not in a.headers for a in answers) == 1
    assert count(Card) == 1


def test_concurrent_money_gifts_with_one_key_give_once(live_app, rabbit_register):
    to, author = rabbit_register(username="받는이"), rabbit_register(username="주는이")
    body = {"message": "복 받아", "amount": 5000, "is_moneybag": False}
    headers = {**author.headers, "Idempotency-Key": "gift"}

    answers = at_once([lambda: post_http(f"/api/user/{to.id}/messages", body, headers)] * 8)

    assert [a.status_code for a in answers] == [201] * 8
    assert count(Message) == 1
    profile = requests.get(f"{APP_URL}/api/user/{to.id}", timeout=30)
    assert profile.json()["user_info"]["total_amount"] == 5000


def test_concurrent_sign_ups_with_one_key_make_one_account(live_app):
    body = {"email": unique_email(), "password": ZELLYY_PASSWORD, "username": "ann"}

    answers = at_once(
        [lambda: post_http("/api/v1/auth/signup", body, {"Idempotency-Key": "join"})] * 6
    )

    # Without the key all but one would be 409 (email taken); with it each gets the session.
    assert [a.status_code for a in answers] == [200] * 6
    assert len({a.json()["session"]["refresh_token"] for a in answers}) == 1
    assert count(User) == 1


@pytest.mark.skipif(ENGINE != "postgres", reason="row locks of a second connection: PostgreSQL")
def test_a_request_waits_for_the_one_holding_its_key_then_replays_it(
    live_app, zellyy_signup, config
):
    import psycopg2

    ann = zellyy_signup()
    post_http("/api/v1/cards", {"content": "first"}, ann.headers)  # makes ann's counter row
    headers = {**ann.headers, "Idempotency-Key": "held"}
    blocker = psycopg2.connect(config.database_url)
    try:
        with blocker.cursor() as cur:  # hold the counter: the first request stops after its claim
            cur.execute("SELECT * FROM card_counts FOR UPDATE")
        answers: list = [None, None]

        def send(i: int) -> None:
            answers[i] = post_http("/api/v1/cards", {"content": "held"}, headers)

        first = threading.Thread(target=send, args=(0,))
        first.start()
        waiting(config.database_url, "card_counts")
        second = threading.Thread(target=send, args=(1,))
        second.start()
        waiting(config.database_url, "idempotency_keys")  # the second waits on the first's key
    finally:
        blocker.rollback()
        blocker.close()
    first.join(30)
    second.join(30)

    assert [a.status_code for a in answers] == [201, 201]
    assert REPLAYED not in answers[0].headers
    assert answers[1].headers[REPLAYED] == "true"
    assert answers[1].json() == answers[0].json()
    assert count(Card) == 2


def waiting(database_url: str, table: str) -> None:
    """Until a backend waits on a lock in a statement on `table`."""
    import psycopg2

    # Outside any transaction: pg_stat_activity would stay as it was at the first read.
    connection = psycopg2.connect(database_url)
    connection.autocommit = True

    def found() -> bool:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE %s",
                (f"%{table}%",),
            )
            return cur.fetchone()[0] > 0

    try:
        wait_for(found, timeout=30)
    finally:
        connection.close()


def post_http(path: str, body: dict, headers: dict) -> requests.Response:
    return requests.post(APP_URL + path, json=body, headers=headers, timeout=60)
