"""The circuit breaker per endpoint, on the run's real worker: opens, shows, closes, disables.

The worker's first pause is WEBHOOK_BREAKER_PAUSE=3 s (tests/conftest.py); longer
spans (an hour's pause, five days of failures) are travelled through the stored
timestamps.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fixtures.receivers import Answer
from helpers import wait_for
from pony import orm

from models.clock import utcnow
from models.events import emit
from models.transaction import transaction
from models.webhooks import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.redis

BASE = "/api/v1/webhooks"
CLOSED = {"state": "closed", "consecutive_failures": 0, "failing_since": None, "paused_until": None}


def sign_ups(count: int) -> None:
    for n in range(count):
        with transaction():
            emit("user.created", {"id": str(uuid.uuid4()), "email": f"u{n}@example.com"})


def shown(client, headers, webhook_id: str) -> dict:
    resp = client.simulate_get(f"{BASE}/{webhook_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json


def deliveries_of(webhook_id: str) -> list[WebhookDelivery]:
    """The endpoint's deliveries with their attempts, read now."""
    key = uuid.UUID(webhook_id)
    with orm.db_session:
        found = WebhookDelivery.select(lambda d: d.endpoint.id == key).order_by(WebhookDelivery.id)
        return [
            (d.status, d.attempt_count, sorted(a.started_at for a in d.attempts)) for d in found
        ]


def failing_for(webhook_id: str, days: float, failures: int = 1) -> None:
    """As if its attempts had failed `failures` times in a row, since `days` ago."""
    with orm.db_session:
        WebhookEndpoint[uuid.UUID(webhook_id)].set(
            consecutive_failures=failures, failing_since=utcnow() - timedelta(days=days)
        )


def shown_once(client, headers, webhook_id: str, predicate) -> dict:
    """GET /webhooks/{id}, polled until `predicate` holds for what it shows."""

    def check():
        found = shown(client, headers, webhook_id)
        return found if predicate(found) else None

    return wait_for(check)


def opened(client, headers, webhook_id: str) -> dict:
    return shown_once(client, headers, webhook_id, lambda w: w["breaker"]["state"] == "open")


def failed_once_more(register_webhook, make_receiver, days: float):
    """An endpoint failing for `days` already, whose receiver fails the next attempt too."""
    receiver = make_receiver(default=Answer(500))
    webhook = register_webhook(receiver.url)
    failing_for(webhook["id"], days=days)
    sign_ups(1)
    return receiver, webhook


def test_an_endpoint_failing_in_a_row_is_paused_shown_and_probed_back(
    config, celery_worker, client, admin_headers, register_webhook, make_receiver
):
    receiver = make_receiver(default=Answer(500))
    webhook = register_webhook(receiver.url)
    assert shown(client, admin_headers, webhook["id"])["breaker"] == CLOSED
    failing_for(webhook["id"], days=0, failures=config.webhook_breaker_failures - 1)

    sign_ups(1)  # its first attempt is the failure that pauses the endpoint

    breaker = opened(client, admin_headers, webhook["id"])["breaker"]
    assert breaker["consecutive_failures"] == config.webhook_breaker_failures
    assert breaker["failing_since"] is not None and breaker["paused_until"] is not None
    listed = client.simulate_get(BASE, headers=admin_headers).json["data"]
    assert [w["breaker"] for w in listed] == [breaker]
    with orm.db_session:
        paused_until = WebhookEndpoint[uuid.UUID(webhook["id"])].paused_until
    sign_ups(3)  # while it is paused: these wait
    receiver.default = Answer(200)

    # After the pause one attempt probes it; its success closes the breaker and the rest go.
    wait_for(lambda: all(d[0] == "succeeded" for d in deliveries_of(webhook["id"])), timeout=30)
    assert shown(client, admin_headers, webhook["id"])["breaker"] == CLOSED
    (first, *waited) = deliveries_of(webhook["id"])
    assert len(waited) == 3
    assert first[2][0] < paused_until <= first[2][1]  # its retry was the probe, after the pause
    for _status, attempt_count, attempts in waited:
        # Not tried while paused, and counted as attempts only once tried.
        assert attempt_count == len(attempts) == 1
        assert attempts[0] >= paused_until


def test_an_admin_resumes_a_paused_endpoint_at_once(
    config, celery_worker, client, admin_headers, register_webhook, make_receiver
):
    receiver = make_receiver(default=Answer(503))
    webhook = register_webhook(receiver.url)
    failing_for(webhook["id"], days=0, failures=config.webhook_breaker_failures - 1)
    sign_ups(1)
    opened(client, admin_headers, webhook["id"])
    with orm.db_session:  # a long pause, such as a few failed probes in a row lead to
        WebhookEndpoint[uuid.UUID(webhook["id"])].set(
            paused_until=utcnow() + timedelta(hours=1), pauses=4
        )
    sign_ups(3)
    receiver.default = Answer(200)
    resumed_at = utcnow()

    resumed = client.simulate_post(f"{BASE}/{webhook['id']}/resume", headers=admin_headers)

    assert resumed.status_code == 200, resumed.text
    assert resumed.json["breaker"] == CLOSED
    assert resumed.json["enabled"] is True
    wait_for(lambda: all(d[0] == "succeeded" for d in deliveries_of(webhook["id"])))
    (first, *waited) = deliveries_of(webhook["id"])
    assert first[2][-1] >= resumed_at
    assert [attempts for _s, _n, attempts in waited if len(attempts) != 1] == []
    assert all(attempts[0] >= resumed_at for _s, _n, attempts in waited)
    assert shown(client, admin_headers, webhook["id"])["breaker"] == CLOSED


def test_an_endpoint_failing_for_five_days_is_disabled_and_can_be_resumed(
    celery_worker, client, admin_headers, register_webhook, make_receiver
):
    receiver, webhook = failed_once_more(register_webhook, make_receiver, days=5.01)

    found = shown_once(client, admin_headers, webhook["id"], lambda w: not w["enabled"])
    assert "5 days" in found["disabled_reason"]
    assert [d[0] for d in deliveries_of(webhook["id"])] == ["failed"]  # no retry of it
    sign_ups(1)
    assert len(deliveries_of(webhook["id"])) == 1  # nothing more is sent to it
    assert len(receiver.received()) == 1

    receiver.default = Answer(200)
    resumed = client.simulate_post(f"{BASE}/{webhook['id']}/resume", headers=admin_headers)
    assert resumed.json["enabled"] is True
    assert resumed.json["disabled_reason"] is None
    assert resumed.json["breaker"]["failing_since"] is None
    sign_ups(1)
    receiver.wait_for(2)


def test_failing_for_less_than_five_days_does_not_disable(
    celery_worker, client, admin_headers, register_webhook, make_receiver
):
    _receiver, webhook = failed_once_more(register_webhook, make_receiver, days=4.9)

    found = shown_once(
        client, admin_headers, webhook["id"], lambda w: w["breaker"]["consecutive_failures"] >= 2
    )
    assert found["enabled"] is True
    assert found["breaker"]["failing_since"] is not None
