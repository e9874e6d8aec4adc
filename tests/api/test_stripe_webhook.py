"""Stripe webhooks: signatures, processing once per event, and reconciling charges left open."""

import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from fixtures.stripe import CARD_CHARGE_DECLINED
from helpers import wait_for
from pony import orm

WEBHOOK = "/api/v1/payments/stripe/webhook"


def instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header as Stripe computes it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def intent_event(event_type: str, intent: dict, event_id: str | None = None) -> bytes:
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:14]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": intent},
    }
    return json.dumps(event).encode()


def subscription_state(subscription_id: str) -> dict:
    from models.subscriptions import Subscription

    with orm.db_session:
        sub = Subscription[uuid.UUID(subscription_id)]
        return {**sub.to_dict(), "failed_attempts": sub.failed_attempts}


def payment_state(payment_id: str) -> dict:
    from models.payments import Payment

    with orm.db_session:
        return Payment[uuid.UUID(payment_id)].to_dict()


@pytest.fixture
def post_event(client, config):
    def post(payload: bytes, signature: str | None = None):
        headers = {"Content-Type": "application/json"}
        if signature != "":
            headers["Stripe-Signature"] = signature or stripe_signature(
                payload, config.stripe_webhook_secret
            )
        return client.simulate_post(WEBHOOK, body=payload, headers=headers)

    return post


@pytest.fixture
def open_renewal(subscriber, gateway):
    """A renewal whose charge was made but never settled (the pass died after charging)."""
    from models.renewals import claim_renewal
    from models.transaction import transaction

    def open_renewal(number: str | None = None, change_card=None):
        account, sub = subscriber()
        if number:
            assert change_card(account, number).status_code == 200
        as_of = instant(sub["end_date"]) - timedelta(minutes=30)
        with transaction():
            claim = claim_renewal(sub["id"], as_of)
        outcome = gateway.charge(**claim.charge, off_session=True)
        return account, sub, claim, outcome

    return open_renewal


@pytest.fixture
def change_card(client, localstripe):
    def change(account, number: str):
        body = {"payment_method_id": localstripe.payment_method(number)}
        return client.simulate_put(
            "/api/v1/subscriptions/current/payment_method", json=body, headers=account.headers
        )

    return change


@pytest.mark.parametrize(
    "signature",
    [
        "",  # no header
        "t=1,v1=00",
        "garbage",
        "wrong secret",
        "too old",
    ],
)
def test_a_bad_signature_is_400_and_changes_nothing(post_event, config, signature):
    payload = intent_event("payment_intent.succeeded", {"id": "pi_x", "metadata": {}})
    if signature == "wrong secret":
        signature = stripe_signature(payload, "whsec_someone_else")
    elif signature == "too old":
        signature = stripe_signature(payload, config.stripe_webhook_secret, int(time.time()) - 3600)
    resp = post_event(payload, signature)

    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalid_request"
    from models.payments import ProviderEvent

    with orm.db_session:
        assert ProviderEvent.select().count() == 0


def test_a_signed_body_that_is_not_an_event_is_400(post_event):
    assert post_event(b"[1, 2, 3]").status_code == 400
    assert post_event(b"not json").status_code == 400


def test_a_succeeded_intent_settles_a_renewal_left_open_once(post_event, open_renewal, localstripe):
    _, sub, claim, outcome = open_renewal()
    assert outcome.succeeded
    assert subscription_state(sub["id"])["end_date"] == sub["end_date"]  # not settled yet
    intent = localstripe.payment_intent(outcome.provider_id)
    payload = intent_event("payment_intent.succeeded", intent, "evt_replayed_once")

    first = post_event(payload)
    assert first.status_code == 200
    assert first.json == {"received": True, "outcome": "reconciled"}
    state = subscription_state(sub["id"])
    assert (state["status"], state["start_date"]) == ("active", sub["end_date"])
    assert payment_state(claim.payment_id)["status"] == "succeeded"

    replay = post_event(payload)  # the same event again (Stripe retries, or a replay)
    assert replay.json["outcome"] == "duplicate"
    assert subscription_state(sub["id"]) == state

    # The pass that charged comes back and settles: too late to change anything.
    from models.renewals import settle_renewal
    from models.transaction import transaction

    with transaction():
        settle_renewal(claim, outcome, instant(sub["end_date"]), (1, 3, 7))
    assert subscription_state(sub["id"]) == state


def test_a_failed_intent_puts_a_renewal_left_open_past_due(
    post_event, open_renewal, localstripe, change_card
):
    _, sub, claim, outcome = open_renewal(CARD_CHARGE_DECLINED, change_card)
    assert not outcome.succeeded and outcome.provider_id
    intent = localstripe.payment_intent(outcome.provider_id)

    resp = post_event(intent_event("payment_intent.payment_failed", intent))
    assert resp.json["outcome"] == "reconciled"
    state = subscription_state(sub["id"])
    assert (state["status"], state["failed_attempts"]) == ("past_due", 1)
    assert state["end_date"] == sub["end_date"]
    payment = payment_state(claim.payment_id)
    assert (payment["status"], payment["failure_reason"]) == ("failed", "declined")


def test_events_for_settled_or_unknown_payments_and_other_types_change_nothing(
    post_event, subscriber, localstripe
):
    _, sub = subscriber()
    intent = localstripe.payment_intent(sub["payment_id"])
    before = subscription_state(sub["id"])

    assert post_event(intent_event("payment_intent.succeeded", intent)).json["outcome"] == (
        "already_recorded"
    )
    stranger = {"id": "pi_unknown", "metadata": {"payment_id": "not-a-uuid"}}
    assert post_event(intent_event("payment_intent.succeeded", stranger)).json["outcome"] == (
        "unknown_payment"
    )
    assert post_event(intent_event("customer.created", {"id": "cus_x"})).json["outcome"] == (
        "ignored"
    )
    assert subscription_state(sub["id"]) == before


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def served_app(app, localstripe):
    """Our app over real HTTP on loopback, with localstripe sending its webhooks to it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server(
        "127.0.0.1", port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    localstripe.send_webhooks_to(f"http://127.0.0.1:{port}{WEBHOOK}")
    yield
    localstripe.send_webhooks_to("http://127.0.0.1:9/nowhere")  # the discard port: refused
    server.shutdown()
    server.server_close()


def test_localstripe_webhooks_settle_a_renewal_left_open(served_app, open_renewal):
    _, sub, claim, outcome = open_renewal()
    assert outcome.succeeded

    # localstripe signs payment_intent.succeeded with our secret and POSTs it to us.
    wait_for(lambda: payment_state(claim.payment_id)["status"] == "succeeded")
    state = subscription_state(sub["id"])
    assert (state["status"], state["start_date"]) == ("active", sub["end_date"])
    from models.payments import ProviderEvent

    with orm.db_session:
        assert ProviderEvent.select(lambda e: e.type == "payment_intent.succeeded").count() >= 1
