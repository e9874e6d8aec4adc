"""Webhook administration: admin only, validated, SSRF-safe, encrypted secrets, deliveries."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from datetime import timedelta

import pytest
from contract import CheckedClient
from fixtures.webhooks import PLAIN_SECRET, WHSEC_SECRET
from pony import orm

BASE = "/api/v1/webhooks"


@pytest.fixture(autouse=True)
def _tasks_kept_here(sent_tasks):
    """These tests check the API, not the worker: the tasks they send stay in this process."""


def test_admin_registers_a_webhook_and_the_secret_is_never_shown_again(
    client, admin_headers, receiver
):
    body = {"url": receiver.url, "events": ["user.created", "card.shared"], "secret": PLAIN_SECRET}
    created = client.simulate_post(BASE, json=body, headers=admin_headers)

    assert created.status_code == 201
    assert set(created.json) == {"id", "url", "events", "created_at"}
    assert created.json["url"] == receiver.url
    assert created.json["events"] == ["user.created", "card.shared"]
    assert created.json["created_at"].endswith("Z")
    webhook_id = created.json["id"]
    assert created.headers["location"] == f"{BASE}/{webhook_id}"

    shown = client.simulate_get(f"{BASE}/{webhook_id}", headers=admin_headers)
    assert shown.status_code == 200
    assert shown.json["enabled"] is True
    listed = client.simulate_get(BASE, headers=admin_headers)
    assert [w["id"] for w in listed.json["data"]] == [webhook_id]
    for text in (created.text, shown.text, listed.text):
        assert PLAIN_SECRET not in text
        assert "secret" not in text


def test_the_seed_base_path_serves_the_same_webhooks(client, admin_headers, register_webhook):
    webhook = register_webhook("http://127.0.0.1:9/hook")
    assert (
        client.simulate_get(f"/api/webhooks/{webhook['id']}", headers=admin_headers).json["id"]
        == (webhook["id"])
    )


def test_secrets_are_encrypted_at_rest(config, register_webhook):
    from models.crypto import decrypt
    from models.webhooks import WebhookEndpoint

    webhook = register_webhook("http://127.0.0.1:9/hook", secret=WHSEC_SECRET)
    with orm.db_session:
        stored = WebhookEndpoint[uuid.UUID(webhook["id"])].secret_encrypted
    assert WHSEC_SECRET not in stored
    assert decrypt(stored, config.encryption_key) == WHSEC_SECRET


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", BASE),
        ("GET", BASE),
        ("GET", f"{BASE}/{uuid.uuid4()}"),
        ("DELETE", f"{BASE}/{uuid.uuid4()}"),
        ("GET", f"{BASE}/{uuid.uuid4()}/deliveries"),
        ("POST", f"{BASE}/{uuid.uuid4()}/deliveries/1/retry"),
    ],
)
def test_only_admins_may_manage_webhooks(client, zellyy_signup, method, path):
    body = {"url": "https://example.com/hook", "events": ["user.created"], "secret": "12345678"}
    anonymous = client.simulate_request(method, path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json["error"]["code"] == "authentication_required"

    user = zellyy_signup()
    refused = client.simulate_request(method, path, json=body, headers=user.headers)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://example.com:99999/hook"}, "url"),
        ({"url": "http://127.0.0.1:9/hook\n"}, "url"),
        ({"url": None}, "url"),
        ({"events": []}, "events"),
        ({"events": ["user.deleted"]}, "events.0"),
        ({"events": "user.created"}, "events"),
        ({"secret": "short"}, "secret"),
        ({"secret": "x" * 257}, "secret"),
        ({"secret": "whsec_not base64!"}, "secret"),
        ({"secret": 12345678}, "secret"),
    ],
)
def test_invalid_registrations_are_refused_with_the_field(client, admin_headers, change, field):
    body = {"url": "http://127.0.0.1:9/hook", "events": ["user.created"], "secret": "12345678"}
    resp = client.simulate_post(BASE, json={**body, **change}, headers=admin_headers)
    assert resp.status_code == 400, resp.text
    assert resp.json["error"]["code"] == "invalid_request"
    assert field in resp.json["error"]["details"]


def test_missing_fields_and_malformed_json_are_400(client, admin_headers):
    missing = client.simulate_post(BASE, json={}, headers=admin_headers)
    assert missing.status_code == 400
    assert set(missing.json["error"]["details"]) == {"url", "events", "secret"}
    malformed = client.simulate_post(
        BASE, body="{", headers={**admin_headers, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json["error"]["code"] == "invalid_request"


@pytest.fixture
def production_client(config):
    """The app as production runs it: webhook URLs must resolve to public addresses."""
    from api.app import create_app

    assert config.webhook_allow_private_urls  # the tests' own setting, lifted here
    return CheckedClient(create_app(dataclasses.replace(config, webhook_allow_private_urls=False)))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1.2.3:8080/hook",
        "http://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8000/hook",
        "http://LOCALHOST./hook",
        f"http://{socket.gethostname()}/hook",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[::127.0.0.1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[64:ff9b:1::a9fe:a9fe]/hook",
        "http://[2002:7f00:1::]/hook",
        "http://[::ffff:0:7f00:1]/hook",
        "http://[fec0::1]/hook",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
        "http://2130706433/hook",
        "http://100.64.0.1/hook",
        "http://does-not-resolve.invalid/hook",
    ],
)
def test_urls_resolving_to_non_public_addresses_are_refused(production_client, admin_headers, url):
    resp = production_client.simulate_post(
        BASE,
        json={"url": url, "events": ["user.created"], "secret": PLAIN_SECRET},
        headers=admin_headers,
    )
    assert resp.status_code == 400, resp.text
    assert resp.json["error"]["code"] == "invalid_request"
    assert "url" in resp.json["error"]["details"]


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hook",
        "https://[64:ff9b::5db8:d70e]/hook",  # NAT64 of that address
        "https://[2002:5db8:d70e::1]/hook",  # 6to4 of it
    ],
)
def test_a_public_address_is_accepted_in_production(production_client, admin_headers, url):
    resp = production_client.simulate_post(
        BASE,
        json={"url": url, "events": ["user.created"], "secret": "x" * 8},
        headers=admin_headers,
    )
    assert resp.status_code == 201, resp.text


def test_deleted_webhooks_are_gone_and_get_no_more_deliveries(
    client, admin_headers, register_webhook, zellyy_signup
):
    webhook = register_webhook("http://127.0.0.1:9/hook")
    zellyy_signup()
    deleted = client.simulate_delete(f"{BASE}/{webhook['id']}", headers=admin_headers)
    assert deleted.status_code == 204
    assert client.simulate_get(f"{BASE}/{webhook['id']}", headers=admin_headers).status_code == 404
    assert client.simulate_get(BASE, headers=admin_headers).json["data"] == []
    again = client.simulate_delete(f"{BASE}/{webhook['id']}", headers=admin_headers)
    assert again.status_code == 404

    zellyy_signup()
    from models.webhooks import WebhookDelivery, WebhookEndpoint

    with orm.db_session:
        endpoint = WebhookEndpoint[uuid.UUID(webhook["id"])]
        assert endpoint.secret_encrypted == ""
        statuses = [d.status for d in WebhookDelivery.select()]
    assert statuses == ["failed"]  # the one pending at deletion was closed; none since


@pytest.mark.parametrize("webhook_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_unknown_webhooks_are_404(client, admin_headers, webhook_id):
    for method, suffix in [("GET", ""), ("DELETE", ""), ("GET", "/deliveries")]:
        resp = client.simulate_request(
            method, f"{BASE}/{webhook_id}{suffix}", headers=admin_headers
        )
        assert resp.status_code == 404
        assert resp.json["error"]["code"] == "resource_not_found"


def test_each_event_gets_one_delivery_per_subscribed_endpoint(
    client, admin_headers, register_webhook, zellyy_signup, rabbit_register
):
    users_hook = register_webhook("http://127.0.0.1:9/users", events=["user.created"])
    billing_hook = register_webhook("http://127.0.0.1:9/billing", events=["subscription.created"])
    both_hook = register_webhook(
        "http://127.0.0.1:9/both", events=["subscription.created", "user.created"]
    )
    zellyy_signup()
    rabbit_register()

    def deliveries(hook):
        resp = client.simulate_get(f"{BASE}/{hook['id']}/deliveries", headers=admin_headers)
        assert resp.status_code == 200
        return resp.json["data"]

    assert [d["event_type"] for d in deliveries(users_hook)] == ["user.created"] * 2
    assert deliveries(billing_hook) == []
    assert len(deliveries(both_hook)) == 2
    # One event, two endpoints: the same event id, a webhook-id of its own each.
    first, second = deliveries(users_hook)[0], deliveries(both_hook)[0]
    assert first["event_id"] == second["event_id"]
    assert first["message_id"] != second["message_id"]


def test_deliveries_are_listed_newest_first_and_paginated(
    client, admin_headers, register_webhook, zellyy_signup
):
    webhook = register_webhook("http://127.0.0.1:9/hook")
    emails = [zellyy_signup().email for _ in range(3)]
    path = f"{BASE}/{webhook['id']}/deliveries"

    first = client.simulate_get(path, params={"limit": 2}, headers=admin_headers)
    assert first.status_code == 200
    assert first.json["pagination"] == {"total": 3, "page": 1, "limit": 2, "total_pages": 2}
    second = client.simulate_get(path, params={"limit": 2, "page": 2}, headers=admin_headers)
    listed = first.json["data"] + second.json["data"]
    assert [d["id"] for d in listed] == sorted((d["id"] for d in listed), reverse=True)
    assert len({d["message_id"] for d in listed}) == 3
    for delivery in listed:
        assert delivery["webhook_id"] == webhook["id"]
        assert delivery["status"] in ("pending", "succeeded", "failed")
        assert isinstance(delivery["attempts"], list)

    from models.webhooks import WebhookDelivery

    with orm.db_session:
        newest = WebhookDelivery[listed[0]["id"]].event.data["email"]
    assert newest == emails[-1]


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"limit": 0}, {"limit": 101}, {"page": "x"}, {"limit": "1.5"}, {"page": 10**20}],
)
def test_out_of_range_pagination_is_400(client, admin_headers, register_webhook, params):
    webhook = register_webhook("http://127.0.0.1:9/hook")
    resp = client.simulate_get(
        f"{BASE}/{webhook['id']}/deliveries", params=params, headers=admin_headers
    )
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalid_request"


def test_retry_queues_a_manual_attempt(
    client, admin_headers, register_webhook, zellyy_signup, sent_tasks
):
    webhook = register_webhook("http://127.0.0.1:9/hook")
    other = register_webhook("http://127.0.0.1:9/other")
    zellyy_signup()
    path = f"{BASE}/{webhook['id']}/deliveries"
    delivery = client.simulate_get(path, headers=admin_headers).json["data"][0]

    retried = client.simulate_post(f"{path}/{delivery['id']}/retry", headers=admin_headers)
    assert retried.status_code == 202
    assert retried.json["id"] == delivery["id"]
    assert retried.json["status"] == "pending"
    assert sent_tasks[-1] == ("webhooks.deliver", {"delivery_ids": [delivery["id"]]})
    from models.webhooks import WebhookDelivery

    with orm.db_session:
        assert WebhookDelivery[delivery["id"]].manual_requested is True
    elsewhere = f"{BASE}/{other['id']}/deliveries/{delivery['id']}/retry"
    assert client.simulate_post(elsewhere, headers=admin_headers).status_code == 404
    unknown = client.simulate_post(f"{path}/999999/retry", headers=admin_headers)
    assert unknown.status_code == 404
    not_an_id = client.simulate_post(f"{path}/abc/retry", headers=admin_headers)
    assert not_an_id.status_code == 404


def test_a_disabled_endpoint_cannot_be_retried(
    client, admin_headers, register_webhook, zellyy_signup
):
    from models.webhooks import WebhookEndpoint

    webhook = register_webhook("http://127.0.0.1:9/hook")
    zellyy_signup()
    with orm.db_session:
        WebhookEndpoint[uuid.UUID(webhook["id"])].set(enabled=False, disabled_reason="410 Gone")
    path = f"{BASE}/{webhook['id']}/deliveries"
    delivery = client.simulate_get(path, headers=admin_headers).json["data"][0]
    resp = client.simulate_post(f"{path}/{delivery['id']}/retry", headers=admin_headers)
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "conflict"
    assert (
        client.simulate_get(f"{BASE}/{webhook['id']}", headers=admin_headers).json["enabled"]
        is False
    )


def test_an_event_and_its_deliveries_roll_back_with_the_change(
    config, register_webhook, sent_tasks
):
    from models.events import Event, emit
    from models.transaction import transaction
    from models.webhooks import WebhookDelivery

    register_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(RuntimeError), transaction():
        emit("user.created", {"id": "x"})
        raise RuntimeError("the change failed")
    with orm.db_session:
        assert Event.select().count() == 1  # the admin's own sign-up, before the webhook
        assert WebhookDelivery.select().count() == 0
    assert sent_tasks == []


def test_the_openapi_document_describes_every_webhook_route(client):
    paths = client.simulate_get("/openapi.json").json["paths"]
    assert set(paths["/api/v1/webhooks"]) == {"get", "post"}
    assert set(paths["/api/v1/webhooks/{webhook_id}"]) == {"get", "delete"}
    assert "get" in paths["/api/v1/webhooks/{webhook_id}/deliveries"]
    assert "post" in paths["/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"]


def test_a_delivery_in_flight_cannot_be_retried(
    client, admin_headers, register_webhook, zellyy_signup, sent_tasks
):
    from models.clock import utcnow
    from models.webhooks import WebhookDelivery

    webhook = register_webhook("http://127.0.0.1:9/hook")
    zellyy_signup()
    path = f"{BASE}/{webhook['id']}/deliveries"
    delivery = client.simulate_get(path, headers=admin_headers).json["data"][0]
    with orm.db_session:
        WebhookDelivery[delivery["id"]].locked_until = utcnow() + timedelta(seconds=30)
    sent_before = len(sent_tasks)

    resp = client.simulate_post(f"{path}/{delivery['id']}/retry", headers=admin_headers)
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "conflict"
    assert len(sent_tasks) == sent_before


def test_one_task_per_event_is_sent_after_commit(
    client, register_webhook, zellyy_signup, sent_tasks
):
    from models.webhooks import WebhookDelivery

    register_webhook("http://127.0.0.1:9/a")
    register_webhook("http://127.0.0.1:9/b")
    zellyy_signup()
    with orm.db_session:
        ids = sorted(d.id for d in WebhookDelivery.select())
    assert len(ids) == 2
    # One task for the event's deliveries (besides the sign-up's confirmation mail).
    assert sorted(name for name, _kw in sent_tasks) == ["mail.deliver", "webhooks.deliver"]
    [deliver] = [kw for name, kw in sent_tasks if name == "webhooks.deliver"]
    assert sorted(deliver["delivery_ids"]) == ids


def test_resume_is_for_admins_and_known_endpoints(
    client, admin_headers, register_webhook, zellyy_signup
):
    webhook = register_webhook("http://127.0.0.1:9/hook")
    user = zellyy_signup()
    refused = client.simulate_post(f"{BASE}/{webhook['id']}/resume", headers=user.headers)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "permission_denied"
    unknown = client.simulate_post(f"{BASE}/{uuid.uuid4()}/resume", headers=admin_headers)
    assert unknown.status_code == 404
    assert client.simulate_post(f"{BASE}/{webhook['id']}/resume").status_code == 401


def test_resume_enables_a_disabled_endpoint_and_sends_what_is_due(
    client, admin_headers, register_webhook, sent_tasks
):
    from models.clock import utcnow
    from models.webhooks import WebhookEndpoint

    webhook = register_webhook("http://127.0.0.1:9/hook")
    with orm.db_session:
        WebhookEndpoint[uuid.UUID(webhook["id"])].set(
            enabled=False,
            disabled_reason="The receiver answered 410 Gone",
            consecutive_failures=9,
            failing_since=utcnow() - timedelta(days=1),
            paused_until=utcnow() + timedelta(hours=1),
            pauses=3,
        )
    paused = client.simulate_get(f"{BASE}/{webhook['id']}", headers=admin_headers).json
    assert paused["breaker"]["state"] == "open"
    assert paused["breaker"]["consecutive_failures"] == 9

    resumed = client.simulate_post(f"{BASE}/{webhook['id']}/resume", headers=admin_headers)

    assert resumed.status_code == 200, resumed.text
    assert resumed.json["enabled"] is True
    assert resumed.json["disabled_reason"] is None
    assert resumed.json["breaker"] == {
        "state": "closed",
        "consecutive_failures": 0,
        "failing_since": None,
        "paused_until": None,
    }
    assert sent_tasks[-1] == ("webhooks.send_due", {"endpoint_id": webhook["id"]})
    assert client.simulate_get(f"{BASE}/{webhook['id']}", headers=admin_headers).json == (
        resumed.json
    )
