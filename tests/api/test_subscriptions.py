"""Subscribing against a real localstripe: plans, first charge, declines, cancel, premium."""

import calendar
import dataclasses
import threading
from datetime import datetime

import pytest
from contract import CheckedClient
from fixtures.stripe import CARD_3DS, CARD_ATTACH_DECLINED, CARD_CHARGE_DECLINED, CARD_OK
from pony import orm

SEED_PLANS = {
    "plans": [
        {
            "id": "monthly",
            "name": "Monthly Premium",
            "description": "Monthly subscription with cloud sync",
            "price": 4.99,
            "currency": "USD",
            "interval": "month",
            "features": ["Cloud sync", "Unlimited cards", "Premium templates"],
        },
        {
            "id": "yearly",
            "name": "Yearly Premium",
            "description": "Yearly subscription with cloud sync (save 20%)",
            "price": 47.99,
            "currency": "USD",
            "interval": "year",
            "features": ["Cloud sync", "Unlimited cards", "Premium templates", "Priority support"],
        },
    ]
}


def instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def ledger(user_email: str) -> list[dict]:
    from models.payments import Payment
    from models.users import User, email_key

    with orm.db_session:
        user = User.get(email_key=email_key(user_email))
        payments = Payment.select(lambda p: p.user_id == user.id).order_by(Payment.created_at)
        return [p.to_dict() for p in payments]


def customer_id_of(user_email: str) -> str | None:
    from models.subscriptions import BillingCustomer
    from models.users import User, email_key

    with orm.db_session:
        user = User.get(email_key=email_key(user_email))
        customer = BillingCustomer.get(user_id=user.id)
        return customer.customer_id if customer else None


def events_of(event_type: str) -> list[dict]:
    from models.events import Event

    with orm.db_session:
        return [e.data for e in Event.select(lambda e: e.type == event_type)]


def test_plans_are_the_seeds_and_need_no_login(client):
    for prefix in ("/api/v1", "/api"):
        resp = client.simulate_get(prefix + "/subscriptions/plans")
        assert resp.status_code == 200
        assert resp.json == SEED_PLANS


def test_subscribing_charges_the_first_month_and_gives_premium(
    client, localstripe, zellyy_signup, subscribe
):
    account = zellyy_signup()
    resp = subscribe(account, CARD_OK)

    assert resp.status_code == 201, resp.text
    sub = resp.json
    assert set(sub) >= {"id", "plan_id", "status", "start_date", "end_date", "payment_provider"}
    assert (sub["plan_id"], sub["status"], sub["payment_provider"]) == (
        "monthly",
        "active",
        "stripe",
    )
    start, end = instant(sub["start_date"]), instant(sub["end_date"])
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    day = min(start.day, calendar.monthrange(year, month)[1])  # one calendar month later
    assert end == start.replace(year=year, month=month, day=day)
    intent = localstripe.payment_intent(sub["payment_id"])
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 499, "usd")
    assert intent["customer"] == customer_id_of(account.email)

    current = client.simulate_get("/api/v1/subscriptions/current", headers=account.headers)
    assert current.status_code == 200
    assert current.json == {**sub, "auto_renew": True}
    me = client.simulate_get("/api/v1/users/me", headers=account.headers).json
    assert me["is_premium"] is True
    assert me["premium_until"] == sub["end_date"]

    [payment] = ledger(account.email)
    assert payment["status"] == "succeeded"
    assert (payment["amount"], payment["currency"], payment["kind"]) == (499, "usd", "initial")
    assert payment["provider_id"] == sub["payment_id"]
    assert payment["subscription_id"] == sub["id"]
    assert (payment["period_start"], payment["period_end"]) == (sub["start_date"], sub["end_date"])
    [created] = events_of("subscription.created")
    assert created["id"] == sub["id"] and created["user_id"] == account.id


def test_yearly_plan_charges_a_year(client, localstripe, subscriber):
    _, sub = subscriber(plan_id="yearly")
    start, end = instant(sub["start_date"]), instant(sub["end_date"])
    assert end.year == start.year + 1 and end.month == start.month
    assert localstripe.payment_intent(sub["payment_id"])["amount"] == 4799


def test_a_declined_card_is_402_and_creates_no_subscription(client, zellyy_signup, subscribe):
    account = zellyy_signup()
    resp = subscribe(account, CARD_CHARGE_DECLINED)

    assert resp.status_code == 402, resp.text
    error = resp.json["error"]
    assert error["code"] == "payment_failed"
    assert error["details"]["reason"] == "declined"
    assert (
        client.simulate_get("/api/v1/subscriptions/current", headers=account.headers).status_code
        == 404
    )
    assert (
        client.simulate_get("/api/v1/users/me", headers=account.headers).json["is_premium"] is False
    )
    [payment] = ledger(account.email)
    assert (payment["status"], payment["failure_reason"]) == ("failed", "declined")
    assert payment["provider_id"].startswith("pi_")
    assert payment["subscription_id"] is None
    assert events_of("subscription.created") == []


def test_a_card_declined_when_attached_is_402(zellyy_signup, subscribe):
    resp = subscribe(zellyy_signup(), CARD_ATTACH_DECLINED)
    assert resp.status_code == 402
    assert resp.json["error"]["details"]["reason"] == "declined"


def test_a_card_that_needs_authentication_is_402_requires_action(
    client, localstripe, zellyy_signup, subscribe
):
    account = zellyy_signup()
    resp = subscribe(account, CARD_3DS)

    assert resp.status_code == 402
    assert resp.json["error"]["details"]["reason"] == "requires_action"
    [payment] = ledger(account.email)
    assert payment["failure_reason"] == "requires_action"
    # Nobody will authenticate it, so it is not left open to be confirmed later.
    assert localstripe.payment_intent(payment["provider_id"])["status"] == "canceled"
    assert (
        client.simulate_get("/api/v1/subscriptions/current", headers=account.headers).status_code
        == 404
    )


def test_the_stripe_customer_is_created_once_per_user(
    client, localstripe, zellyy_signup, subscribe
):
    account = zellyy_signup()
    assert subscribe(account, CARD_CHARGE_DECLINED).status_code == 402
    first = subscribe(account, CARD_OK)
    assert first.status_code == 201
    assert (
        client.simulate_post("/api/v1/subscriptions/cancel", headers=account.headers).status_code
        == 200
    )
    assert subscribe(account, CARD_OK).status_code == 201  # canceled is not held

    [customer] = localstripe.customers(account.email)
    assert customer["id"] == customer_id_of(account.email)
    assert len(localstripe.payment_intents(customer["id"])) == 3


def test_a_second_subscription_is_409(client, subscriber, subscribe):
    account, _ = subscriber()
    resp = subscribe(account, CARD_OK, "yearly")
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "conflict"
    assert len(ledger(account.email)) == 1  # nothing was charged


def test_an_unknown_payment_method_is_400(zellyy_signup, client):
    account = zellyy_signup()
    resp = client.simulate_post(
        "/api/v1/subscriptions",
        json={"plan_id": "monthly", "payment_method_id": "pm_nosuchthing"},
        headers=account.headers,
    )
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalid_request"
    assert "payment_method_id" in resp.json["error"]["details"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"payment_method_id": "pm_x", "payment_provider": "stripe"}, "plan_id"),
        ({"plan_id": "weekly", "payment_method_id": "pm_x"}, "plan_id"),
        ({"plan_id": "monthly"}, "payment_method_id"),
        ({"plan_id": "monthly", "payment_method_id": "pm_x\n"}, "payment_method_id"),
        ({"plan_id": "monthly", "payment_method_id": 7}, "payment_method_id"),
        (
            {"plan_id": "monthly", "payment_method_id": "pm_x", "payment_provider": "paypal"},
            "payment_provider",
        ),
    ],
)
def test_bad_subscribe_bodies_are_400_per_field(client, zellyy_signup, body, field):
    account = zellyy_signup()
    resp = client.simulate_post("/api/v1/subscriptions", json=body, headers=account.headers)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalid_request"
    assert field in resp.json["error"]["details"]


def test_subscription_routes_need_a_token(client):
    for method, path in [
        ("POST", "/api/v1/subscriptions"),
        ("GET", "/api/v1/subscriptions/current"),
        ("PUT", "/api/v1/subscriptions/current/payment_method"),
        ("POST", "/api/v1/subscriptions/cancel"),
    ]:
        resp = client.simulate_request(method, path, json={})
        assert resp.status_code == 401, path
        assert resp.json["error"]["code"] == "authentication_required"


def test_cancel_keeps_premium_until_the_end_date_then_it_expires(
    client, subscriber, gateway, config
):
    from worker.billing import run_pass

    account, sub = subscriber()
    resp = client.simulate_post("/api/v1/subscriptions/cancel", headers=account.headers)

    assert resp.status_code == 200
    assert resp.json == {
        "id": sub["id"],
        "status": "canceled",
        "end_date": sub["end_date"],
        "message": "Subscription will be active until the end date",
    }
    current = client.simulate_get("/api/v1/subscriptions/current", headers=account.headers).json
    assert (current["status"], current["auto_renew"], current["end_date"]) == (
        "canceled",
        False,
        sub["end_date"],
    )
    me = client.simulate_get("/api/v1/users/me", headers=account.headers).json
    assert (me["is_premium"], me["premium_until"]) == (True, sub["end_date"])
    assert (
        client.simulate_post("/api/v1/subscriptions/cancel", headers=account.headers).status_code
        == 404
    )
    assert [e["id"] for e in events_of("subscription.canceled")] == [sub["id"]]

    end = instant(sub["end_date"])
    report = run_pass(gateway, end, config.renewal_retry_schedule)
    assert (report.expired, report.renewed) == (1, 0)  # a canceled one is never charged
    assert (
        client.simulate_get("/api/v1/subscriptions/current", headers=account.headers).status_code
        == 404
    )
    me = client.simulate_get("/api/v1/users/me", headers=account.headers).json
    assert (me["is_premium"], me["premium_until"]) == (False, None)
    assert [e["status"] for e in events_of("subscription.expired")] == ["expired"]
    assert len(ledger(account.email)) == 1


def test_cancel_without_a_subscription_is_404(client, zellyy_signup):
    account = zellyy_signup()
    resp = client.simulate_post("/api/v1/subscriptions/cancel", headers=account.headers)
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "resource_not_found"


def test_changing_the_card_of_an_active_subscription_charges_nothing(
    client, localstripe, subscriber
):
    account, sub = subscriber()
    new_card = localstripe.payment_method(CARD_OK)
    resp = client.simulate_put(
        "/api/v1/subscriptions/current/payment_method",
        json={"payment_method_id": new_card},
        headers=account.headers,
    )
    assert resp.status_code == 200
    assert resp.json == {**sub, "auto_renew": True}
    assert len(ledger(account.email)) == 1

    from models.subscriptions import Subscription

    with orm.db_session:
        assert Subscription.select().first().payment_method_id == new_card


def test_changing_the_card_without_a_subscription_is_404_and_bad_cards_are_refused(
    client, localstripe, zellyy_signup, subscriber
):
    nobody = zellyy_signup()
    body = {"payment_method_id": localstripe.payment_method(CARD_OK)}
    path = "/api/v1/subscriptions/current/payment_method"
    assert client.simulate_put(path, json=body, headers=nobody.headers).status_code == 404

    account, _ = subscriber()
    unknown = client.simulate_put(
        path, json={"payment_method_id": "pm_unknown"}, headers=account.headers
    )
    assert unknown.status_code == 400
    declined = client.simulate_put(
        path,
        json={"payment_method_id": localstripe.payment_method(CARD_ATTACH_DECLINED)},
        headers=account.headers,
    )
    assert declined.status_code == 402
    assert declined.json["error"]["details"]["reason"] == "declined"
    assert client.simulate_put(path, json={}, headers=account.headers).status_code == 400


def test_premium_lifts_the_free_card_limit_and_syncs_cards(config, zellyy_signup, subscribe):
    from api.app import create_app

    small = CheckedClient(create_app(dataclasses.replace(config, free_card_limit=1)))
    account = zellyy_signup()
    card = {"content": "hello"}
    first = small.simulate_post("/api/v1/cards", json=card, headers=account.headers)
    assert first.status_code == 201
    assert first.json["is_synced"] is False
    assert (
        small.simulate_post("/api/v1/cards", json=card, headers=account.headers).status_code == 403
    )

    assert subscribe(account, CARD_OK).status_code == 201
    second = small.simulate_post("/api/v1/cards", json=card, headers=account.headers)
    assert second.status_code == 201
    listed = small.simulate_get("/api/v1/cards", headers=account.headers).json["data"]
    assert len(listed) == 2 and all(c["is_synced"] for c in listed)


def test_two_subscribe_requests_at_once_make_one_subscription(
    client, localstripe, zellyy_signup, subscribe
):
    account = zellyy_signup()
    start = threading.Barrier(2)
    statuses = []

    def run():
        start.wait(10)
        statuses.append(subscribe(account, CARD_OK).status_code)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) == [201, 409]
    [customer] = localstripe.customers(account.email)
    assert len(localstripe.payment_intents(customer["id"])) == 1


def test_a_subscribe_retried_after_a_lost_commit_asks_stripe_for_the_same_charge(
    cutter, client, localstripe, zellyy_signup
):
    """The charge succeeded, then the connection died before COMMIT (503, nothing kept).
    The client's retry with its Idempotency-Key must not be a second charge: it asks
    Stripe again with the first try's idempotency key and parameters, which Stripe answers
    with the charge it made (localstripe does not deduplicate: it shows both asks)."""

    def subscribe(account, key: str, n: int | None):
        body = {
            "plan_id": "monthly",
            "payment_method_id": localstripe.payment_method(CARD_OK),
            "payment_provider": "stripe",
        }
        headers = {**account.headers, "Idempotency-Key": key}
        return cutter.run(
            n, lambda: client.simulate_post("/api/v1/subscriptions", json=body, headers=headers)
        )

    first = zellyy_signup()
    # The caller query is prepared once per connection (PostgreSQL): before the reference,
    # so that both subscribes make the same statements.
    assert client.simulate_get("/api/v1/users/me", headers=first.headers).status_code == 200
    assert subscribe(first, "reference", None).status_code == 201
    commit = len(cutter.statements)  # a first subscribe makes as many statements as this one
    assert cutter.statements[-1] == "COMMIT"

    account = zellyy_signup()
    lost = subscribe(account, "buy-monthly", commit)
    assert lost.status_code == 503, lost.text
    assert ledger(account.email) == []
    retried = subscribe(account, "buy-monthly", None)
    assert retried.status_code == 201, retried.text

    [payment] = ledger(account.email)
    asked = [
        pi
        for pi in localstripe.all_payment_intents()
        if pi["metadata"].get("user_id") == payment_user(account.email)
    ]
    assert len(asked) == 2
    assert {pi["metadata"]["payment_id"] for pi in asked} == {payment["id"]}
    assert asked[0]["amount"] == asked[1]["amount"]

    # Another caller's same key is another intent: another charge.
    other = zellyy_signup()
    assert subscribe(other, "buy-monthly", None).status_code == 201
    assert ledger(other.email)[0]["id"] != payment["id"]


def payment_user(user_email: str) -> str:
    from models.users import User, email_key

    with orm.db_session:
        return str(User.get(email_key=email_key(user_email)).public_id)
