"""One slow customer stalls no one: a receiver that never answers costs waiting, not turns.

On the run's real worker (two processes), real Redis and real receivers. Without
isolation each attempt to the hanging receiver held a worker slot for the whole
attempt timeout (15 s), and everything else, mail and social posts included,
waited behind them: minutes for the backlogs made here.
"""

from __future__ import annotations

import uuid

import pytest
from helpers import wait_for
from pony import orm

from models.events import emit
from models.transaction import transaction
from models.webhooks import WebhookDelivery

pytestmark = pytest.mark.redis

# Well under one attempt to a hanging receiver (15 s): nothing here may wait for one.
FEW_SECONDS = 12


def sign_ups(count: int) -> None:
    """`count` user.created events, each committed in its own transaction as a sign-up is."""
    for n in range(count):
        with transaction():
            emit("user.created", {"id": str(uuid.uuid4()), "email": f"u{n}@example.com"})


def test_every_event_reaches_a_healthy_endpoint_while_another_never_answers(
    config, celery_worker, register_webhook, make_hanging, receiver
):
    hanging = register_webhook(make_hanging().url)
    register_webhook(receiver.url)  # subscribed to the same events

    sign_ups(12)

    received = receiver.wait_for(12, timeout=FEW_SECONDS)
    assert len({r.message_id for r in received}) == 12
    # The hanging endpoint has as many attempts in flight as one endpoint may have, no more:
    # its other deliveries wait, not counted as attempts.
    endpoint_id = uuid.UUID(hanging["id"])

    def attempt_counts() -> list[int]:
        with orm.db_session:
            rows = orm.select(
                (d.id, d.attempt_count) for d in WebhookDelivery if d.endpoint.id == endpoint_id
            )[:]
        return sorted(count for _id, count in rows)

    limit = config.webhook_endpoint_concurrency
    wait_for(lambda: sum(attempt_counts()) >= limit)
    assert attempt_counts() == [0] * (12 - limit) + [1] * limit


def test_mail_and_social_posts_are_not_delayed_by_a_webhook_backlog(
    client, celery_worker, smtp_server, platforms, register_webhook, make_hanging, zellyy_signup
):
    for _ in range(3):
        register_webhook(make_hanging().url)
    sign_ups(40)  # 120 deliveries to receivers that never answer

    email = f"rabbit-{uuid.uuid4().hex[:8]}@example.com"
    registered = client.simulate_post(
        "/api/user/register",
        json={"email": email, "password": "Abcdefgh123!", "username": "토끼"},
    )
    assert registered.status_code == 201
    account = zellyy_signup()
    platforms.account("facebook", "fb-token", "page-100")
    connected = client.simulate_post(
        "/api/v1/social/connect/facebook",
        json={"access_token": "fb-token"},
        headers=account.headers,
    )
    assert connected.status_code == 200, connected.text
    card = client.simulate_post(
        "/api/v1/cards", json={"content": "새해 복"}, headers=account.headers
    ).json
    share = client.simulate_post(
        f"/api/v1/cards/{card['id']}/share/facebook", json={}, headers=account.headers
    ).json

    wait_for(
        lambda: any(email in m.rcpt_tos for m in list(smtp_server.messages)), timeout=FEW_SECONDS
    )

    def posted():
        shown = client.simulate_get(
            f"/api/v1/cards/{card['id']}/shares/{share['id']}", headers=account.headers
        ).json
        return shown if shown["status"] != "pending" else None

    assert wait_for(posted, timeout=FEW_SECONDS)["status"] == "success"
    with orm.db_session:  # the backlog was real: most deliveries still wait
        assert orm.count(d for d in WebhookDelivery if d.attempt_count == 0) > 60
