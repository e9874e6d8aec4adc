"""GET /metrics: request, task and outbox metrics in the Prometheus text format."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

from contract import CheckedClient
from helpers import metric

from api.app import create_app

REQUESTS = "http_request_duration_seconds_count"


def scrape(client, **headers) -> str:
    resp = client.simulate_get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=")
    return resp.text


def test_requests_are_counted_by_route_template_method_and_status(client, zellyy_signup):
    ann = zellyy_signup()
    me = {"method": "GET", "route": "/api/v1/users/me"}
    before = scrape(client)

    for _ in range(3):
        assert client.simulate_get("/api/v1/users/me", headers=ann.headers).status_code == 200
    assert client.simulate_get("/api/v1/users/me").status_code == 401
    client.simulate_get(f"/api/v1/cards/{uuid.uuid4()}", headers=ann.headers)
    client.simulate_get("/no/such/route")
    after = scrape(client)

    def grew(**labels) -> float:
        return metric(after, REQUESTS, **labels) - metric(before, REQUESTS, **labels)

    assert grew(**me, status="200") == 3
    assert grew(**me, status="401") == 1
    assert grew(method="GET", route="/api/v1/cards/{card_id}", status="404") == 1
    assert grew(method="GET", route="unmatched", status="404") == 1
    # The histogram: three 200s fell into buckets, and took some time.
    assert metric(after, "http_request_duration_seconds_bucket", **me, status="200", le="+Inf") >= 3
    assert metric(after, "http_request_duration_seconds_sum", **me, status="200") > 0
    # Scrapes are not requests worth counting.
    assert 'route="/metrics"' not in after


def test_with_a_metrics_token_only_its_bearer_may_scrape(config):
    client = CheckedClient(create_app(dataclasses.replace(config, metrics_token="s3cret")))

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        refused = client.simulate_get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json["error"]["code"] == "authentication_required"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "http_request" not in refused.text
    assert "# TYPE http_request_duration_seconds histogram" in scrape(
        client, Authorization="Bearer s3cret"
    )


def test_without_a_token_metrics_are_open(client):
    assert "# TYPE http_request_duration_seconds histogram" in scrape(client)


def test_the_outbox_backlog_counts_deliveries_that_are_due(client, config):
    from pony import orm

    from models.clock import utcnow
    from models.events import Event
    from models.webhooks import SUCCEEDED, WebhookDelivery, WebhookEndpoint

    assert metric(scrape(client), "outbox_backlog", outbox="webhook_deliveries") == 0
    now = utcnow()
    with orm.db_session:
        endpoint = WebhookEndpoint(url="https://receiver.test/hook", events=["user.created"])
        for due, status in [
            (now - timedelta(seconds=5), "pending"),  # due: counted
            (now - timedelta(hours=2), "pending"),  # long overdue: counted
            (now + timedelta(minutes=5), "pending"),  # a retry waiting its turn
            (now - timedelta(minutes=1), SUCCEEDED),  # done
        ]:
            WebhookDelivery(
                endpoint=endpoint,
                event=Event(type="user.created", data={}),
                message_id=f"msg_{uuid.uuid4().hex}",
                status=status,
                next_attempt_at=due,
            )

    assert metric(scrape(client), "outbox_backlog", outbox="webhook_deliveries") == 2


def test_the_outbox_backlog_counts_mails_not_sent(client, config, monkeypatch):
    from models import tasks
    from models.mail_outbox import claim as claim_mail
    from models.mail_outbox import mark_sent, queue_mail
    from models.transaction import transaction

    monkeypatch.setattr(tasks, "_publisher", lambda name, kwargs: None)  # their tasks are lost
    with transaction():
        ids = [queue_mail(f"u{n}@example.com", "Hello", "text").id for n in range(3)]
    assert metric(scrape(client), "outbox_backlog", outbox="mail_outbox") == 3

    with transaction():
        claim = claim_mail(ids[0])
    with transaction():
        mark_sent(claim)
    assert metric(scrape(client), "outbox_backlog", outbox="mail_outbox") == 2


def test_the_outbox_backlog_counts_shares_that_are_due(client, zellyy_signup):
    from pony import orm

    from models.cards import Card
    from models.clock import utcnow
    from models.shares import Share

    ann = zellyy_signup()
    made = client.simulate_post("/api/v1/cards", json={"content": "hi"}, headers=ann.headers)
    assert made.status_code == 201, made.text
    assert metric(scrape(client), "outbox_backlog", outbox="shares") == 0
    now = utcnow()
    with orm.db_session:
        card = Card.get(public_id=uuid.UUID(made.json["id"]))
        for due, status, started in [
            (now - timedelta(seconds=5), "pending", None),  # due: counted
            (None, "pending", None),  # written by the release before 0007: counted
            (now + timedelta(seconds=30), "pending", None),  # a retry waiting its turn
            (now + timedelta(minutes=4), "pending", now),  # being posted (its lease)
            (None, "success", None),  # done
        ]:
            Share(
                card=card,
                platform="facebook",
                status=status,
                next_attempt_at=due,
                post_started_at=started,
            )

    assert metric(scrape(client), "outbox_backlog", outbox="shares") == 2
