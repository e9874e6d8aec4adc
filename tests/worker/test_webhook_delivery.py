"""Signed webhook delivery through a real worker on Redis to real HTTP receivers on loopback."""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import uuid

import pytest
from fixtures.receivers import Answer
from fixtures.webhooks import PLAIN_SECRET, WHSEC_SECRET
from helpers import wait_for
from pony import orm
from standardwebhooks import Webhook, WebhookVerificationError

pytestmark = pytest.mark.redis

BASE = "/api/v1/webhooks"


def deliveries(client, headers, webhook_id: str) -> list[dict]:
    resp = client.simulate_get(f"{BASE}/{webhook_id}/deliveries", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json["data"]


def settled(client, headers, webhook_id: str, count: int = 1) -> list[dict]:
    """The endpoint's deliveries once `count` of them are no longer pending."""

    def done():
        found = deliveries(client, headers, webhook_id)
        finished = [d for d in found if d["status"] != "pending"]
        return found if len(finished) >= count else None

    return wait_for(done)


def verified(secret, request) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


def test_sign_ups_on_both_apps_reach_the_receiver_signed_with_the_plain_secret(
    celery_worker, client, register_webhook, receiver
):
    register_webhook(receiver.url, secret=PLAIN_SECRET)
    zellyy = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": "zel@example.com", "password": "password1", "username": "zel"},
    )
    assert zellyy.status_code == 200
    rabbit = client.simulate_post(
        "/api/user/register",
        json={"email": "rab@example.com", "password": "Abcdefgh123!", "username": "토끼"},
    )
    assert rabbit.status_code == 201

    received = receiver.wait_for(2)
    # A plain secret signs with its UTF-8 bytes.
    payloads = [verified(PLAIN_SECRET.encode(), r) for r in received]
    assert {p["data"]["email"] for p in payloads} == {"zel@example.com", "rab@example.com"}
    for payload, request in zip(payloads, received, strict=True):
        assert set(payload) == {"id", "type", "created_at", "data"}
        assert payload["type"] == "user.created"
        assert payload["id"].startswith("evt_")
        assert request.headers["content-type"] == "application/json"
        assert request.message_id.startswith("msg_")
        assert "password" not in request.body.decode()
        with pytest.raises(WebhookVerificationError):
            verified(b"another secret", request)
    zel = next(p for p in payloads if p["data"]["email"] == "zel@example.com")
    assert zel["data"]["id"] == zellyy.json["user"]["id"]
    assert zel["data"]["username"] == "zel"


def test_a_whsec_secret_signs_with_its_decoded_bytes(
    celery_worker, register_webhook, receiver, rabbit_register
):
    register_webhook(receiver.url, secret=WHSEC_SECRET)
    rabbit_register(email="whsec@example.com")
    (request,) = receiver.wait_for(1)
    assert verified(WHSEC_SECRET, request)["data"]["email"] == "whsec@example.com"
    with pytest.raises(WebhookVerificationError):
        verified(WHSEC_SECRET.encode(), request)  # not its UTF-8 bytes


def test_failures_are_retried_with_the_same_webhook_id_and_fresh_signatures(
    celery_worker, client, admin_headers, register_webhook, receiver, zellyy_signup
):
    receiver.script(Answer(500, body=b"boom"), Answer(503, body=b"busy"))
    webhook = register_webhook(receiver.url)
    zellyy_signup()

    first, second, third = receiver.wait_for(3)
    assert first.message_id == second.message_id == third.message_id
    timestamps = [int(r.headers["webhook-timestamp"]) for r in (first, second, third)]
    assert timestamps == sorted(set(timestamps))  # re-signed at every attempt
    assert len({r.headers["webhook-signature"] for r in (first, second, third)}) == 3
    for request in (first, second, third):
        verified(PLAIN_SECRET.encode(), request)
    # WEBHOOK_RETRY_SCHEDULE=1,1,2: at least a second between attempts.
    assert second.at - first.at >= 0.9
    assert third.at - second.at >= 0.9

    (delivery,) = settled(client, admin_headers, webhook["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["message_id"] == first.message_id
    attempts = delivery["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 503, 200]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["trigger"] for a in attempts] == ["scheduled"] * 3
    assert [a["succeeded"] for a in attempts] == [False, False, True]
    assert [a["response_body"] for a in attempts] == ["boom", "busy", "ok"]
    assert all(isinstance(a["duration_ms"], int) and a["duration_ms"] >= 0 for a in attempts)


def test_a_delivery_failing_every_attempt_is_marked_failed_and_can_be_replayed(
    celery_worker, client, admin_headers, register_webhook, make_receiver, zellyy_signup
):
    receiver = make_receiver(default=Answer(500, body=b"x" * 5000))
    webhook = register_webhook(receiver.url)
    zellyy_signup()

    (delivery,) = settled(client, admin_headers, webhook["id"])
    assert delivery["status"] == "failed"
    # The first attempt and one retry per WEBHOOK_RETRY_SCHEDULE entry (1,1,2).
    assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3, 4]
    assert len(receiver.received()) == 4
    assert all(len(a["response_body"]) == 1024 for a in delivery["attempts"])
    assert delivery["next_attempt_at"] is None

    receiver.default = Answer(200)
    retry = f"{BASE}/{webhook['id']}/deliveries/{delivery['id']}/retry"
    assert client.simulate_post(retry, headers=admin_headers).status_code == 202
    fifth = receiver.wait_for(5)[-1]
    assert fifth.message_id == receiver.received()[0].message_id
    wait_for(lambda: deliveries(client, admin_headers, webhook["id"])[0]["status"] == "succeeded")
    replayed = deliveries(client, admin_headers, webhook["id"])[0]
    assert replayed["attempts"][-1]["trigger"] == "manual"
    assert replayed["attempts"][-1]["number"] == 5


def test_a_delivered_event_can_be_replayed_by_hand(
    celery_worker, client, admin_headers, register_webhook, receiver, zellyy_signup
):
    webhook = register_webhook(receiver.url)
    zellyy_signup()
    (delivery,) = settled(client, admin_headers, webhook["id"])
    assert delivery["status"] == "succeeded"

    retry = f"{BASE}/{webhook['id']}/deliveries/{delivery['id']}/retry"
    assert client.simulate_post(retry, headers=admin_headers).status_code == 202
    original, replay = receiver.wait_for(2)
    assert replay.message_id == original.message_id  # receivers dedupe a replay
    assert replay.json == original.json
    verified(PLAIN_SECRET.encode(), replay)

    def two_attempts():
        (found,) = deliveries(client, admin_headers, webhook["id"])
        return found if len(found["attempts"]) == 2 and found["status"] != "pending" else None

    replayed = wait_for(two_attempts)
    assert replayed["status"] == "succeeded"
    assert [(a["number"], a["trigger"]) for a in replayed["attempts"]] == [
        (1, "scheduled"),
        (2, "manual"),
    ]


def test_410_gone_disables_the_endpoint(
    celery_worker, client, admin_headers, register_webhook, make_receiver, zellyy_signup
):
    receiver = make_receiver(default=Answer(410))
    webhook = register_webhook(receiver.url)
    zellyy_signup()

    (delivery,) = settled(client, admin_headers, webhook["id"])
    assert delivery["status"] == "failed"
    assert [a["status_code"] for a in delivery["attempts"]] == [410]
    shown = client.simulate_get(f"{BASE}/{webhook['id']}", headers=admin_headers).json
    assert shown["enabled"] is False
    assert "410" in shown["disabled_reason"]

    zellyy_signup()
    assert len(deliveries(client, admin_headers, webhook["id"])) == 1
    assert len(receiver.received()) == 1


def test_429_waits_at_least_its_retry_after(
    celery_worker, client, admin_headers, register_webhook, receiver, zellyy_signup
):
    receiver.script(Answer(429, headers={"Retry-After": "3"}))
    webhook = register_webhook(receiver.url)
    zellyy_signup()

    first, second = receiver.wait_for(2)
    assert second.at - first.at >= 2.9  # the schedule alone would wait about one second
    (delivery,) = settled(client, admin_headers, webhook["id"])
    assert [a["status_code"] for a in delivery["attempts"]] == [429, 200]


def test_endpoints_get_only_the_event_types_they_subscribed_to(
    celery_worker, client, admin_headers, register_webhook, make_receiver, zellyy_signup
):
    users, billing = make_receiver(), make_receiver()
    register_webhook(users.url, events=["user.created"])
    billing_hook = register_webhook(billing.url, events=["subscription.created", "card.shared"])
    zellyy_signup()

    (request,) = users.wait_for(1)
    assert request.json["type"] == "user.created"
    assert deliveries(client, admin_headers, billing_hook["id"]) == []
    assert billing.received() == []


def test_the_sweeper_sends_what_the_broker_never_got(
    celery_worker, client, admin_headers, register_webhook, receiver, zellyy_signup, broker_down
):
    webhook = register_webhook(receiver.url)
    zellyy_signup()  # commits; sending its task fails after the commit

    (delivery,) = deliveries(client, admin_headers, webhook["id"])
    assert delivery["status"] == "pending"
    assert delivery["attempts"] == []

    broker_down.undo()
    from worker.celery import app

    app.send_task("webhooks.sweep", kwargs={"grace": 0})
    (request,) = receiver.wait_for(1)
    assert request.message_id == delivery["message_id"]
    (done,) = settled(client, admin_headers, webhook["id"])
    assert done["status"] == "succeeded"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_urls_resolving_to_private_addresses_are_refused_at_send_time(
    config, client, admin_headers, register_webhook, receiver, zellyy_signup, broker_down, host
):
    from worker.webhooks import attempt

    # Allowed while registering in tests; as a host that resolved elsewhere then would be.
    webhook = register_webhook(receiver.url.replace("127.0.0.1", host))
    zellyy_signup()
    (delivery,) = deliveries(client, admin_headers, webhook["id"])

    production = dataclasses.replace(config, webhook_allow_private_urls=False)
    (outcome,) = attempt([delivery["id"]], production)
    assert outcome.status_code is None
    assert outcome.error.startswith("blocked: ")
    assert host.strip("[]") in outcome.error
    assert receiver.received() == []
    (recorded,) = deliveries(client, admin_headers, webhook["id"])
    assert recorded["attempts"][0]["error"] == outcome.error
    assert recorded["status"] == "pending"  # retried later, and refused again then


def test_every_event_is_delivered_when_a_worker_is_killed_mid_delivery(
    config,
    client,
    admin_headers,
    register_webhook,
    receiver,
    start_worker,
    monkeypatch,
    capsys,
    request,
):
    """At least once: the lease runs out, the sweeper re-sends; duplicates are reported."""
    from models.events import emit
    from models.transaction import transaction
    from models.webhooks import WebhookDelivery
    from worker.celery import app

    prefix = f"{config.queue_prefix}kill-{uuid.uuid4().hex[:6]}-"
    queue = prefix + "webhooks"
    monkeypatch.setattr(app, "send_task", functools.partial(app.send_task, queue=queue))
    # Sending to it adds the queue to the app's (Celery creates missing queues): not after.
    request.addfinalizer(lambda: app.amqp.queues.pop(queue, None))
    stuck = threading.Event()
    receiver.script(Answer(hold=stuck), Answer(hold=stuck))
    webhook = register_webhook(receiver.url)
    for n in range(20):
        with transaction():
            emit("user.created", {"id": str(uuid.uuid4()), "email": f"u{n}@example.com"})

    doomed = start_worker(prefix, "doomed")
    receiver.wait_for(2)  # both of its processes are mid-delivery
    doomed.kill()
    stuck.set()

    start_worker(prefix, "rescuer")

    def all_delivered():
        with orm.db_session:
            pending = WebhookDelivery.select(lambda d: d.status != "succeeded").count()
        if pending:
            app.send_task("webhooks.sweep", kwargs={"grace": 0})
        return pending == 0

    wait_for(all_delivered, timeout=150, interval=3)

    with orm.db_session:
        expected = {d.message_id for d in WebhookDelivery.select()}
    ids = [r.message_id for r in receiver.received()]
    assert len(expected) == 20
    assert set(ids) == expected
    duplicates = len(ids) - len(set(ids))
    with capsys.disabled():
        print(
            f"\nkilled mid-delivery: {len(set(ids))} distinct webhook-ids, {duplicates} duplicates"
        )
    assert deliveries(client, admin_headers, webhook["id"])[0]["status"] == "succeeded"
    assert json.loads(receiver.received()[0].body)["type"] == "user.created"


def test_a_delivery_is_claimed_by_one_worker_at_a_time_and_never_resent_once_delivered(
    config, client, admin_headers, register_webhook, receiver, zellyy_signup, broker_down
):
    from models.clock import utcnow
    from models.transaction import transaction
    from models.webhook_claims import claim
    from models.webhooks import WebhookDelivery
    from worker.webhooks import attempt, limits

    webhook = register_webhook(receiver.url)
    zellyy_signup()
    (delivery,) = deliveries(client, admin_headers, webhook["id"])
    with transaction():
        (first,) = claim([delivery["id"]], config.encryption_key, limits(config), 1)
    with transaction():
        # Held by the first.
        assert claim([delivery["id"]], config.encryption_key, limits(config), 1) == []
    assert attempt([delivery["id"]], config) == []
    assert receiver.received() == []

    # The first claimant died: once its lease has run out, another may take over.
    with orm.db_session:
        WebhookDelivery[delivery["id"]].locked_until = utcnow()
    (outcome,) = attempt([delivery["id"]], config)
    assert outcome.status_code == 200
    assert len(receiver.received()) == 1
    # A delivered delivery is not sent again, however often its task arrives.
    assert attempt([delivery["id"]], config) == []
    assert len(receiver.received()) == 1
    assert first.message_id == receiver.received()[0].message_id
