"""The OpenAPI document describes every Money For Rabbit and service answer, as clients read it."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from contract import ContractError, check
from fixtures.accounts import bearer
from jsonschema import Draft202012Validator

from api import openapi, schemas
from api.errors import RABBIT_PREFIXES
from api.rabbit import messages as rabbit_messages
from api.rabbit import users as rabbit_users


@pytest.fixture
def document(app):
    return openapi.build(app)


def answer_schema(document, path, method, status, media="application/json"):
    schema = document["paths"][path][method]["responses"][str(status)]["content"][media]["schema"]
    return {**schema, "components": document["components"]}


def test_every_error_of_money_for_rabbit_is_its_own_dialect(document):
    for path, item in document["paths"].items():
        if not path.startswith(RABBIT_PREFIXES):
            continue
        for method, op in item.items():
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/RabbitError"}, (path, method)


def test_the_message_list_is_the_seed_s_shape_and_nothing_else(client, rabbit_register, document):
    ann, bob = rabbit_register(username="앤디"), rabbit_register(username="바비")
    for amount in (100, 500, 1000, 5000, 10000, 50000, 99999):
        body = {"message": "새해 복", "amount": amount, "is_moneybag": False}
        written = client.simulate_post(
            f"/api/user/{ann.id}/messages", json=body, headers=bob.headers
        )
        assert written.status_code == 201
    listed = client.simulate_get(f"/api/user/{ann.id}/messages", headers=ann.headers)
    assert listed.status_code == 200
    answer = listed.json
    assert (answer["message_set_count"], len(answer["messages"]), answer["prev"]) == (7, 6, None)
    assert answer["next"].endswith(f"/api/user/{ann.id}/messages?page=2")

    schema = answer_schema(document, "/api/user/{user_id}/messages", "get", 200)
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors(answer))
    # An answer that drifts from the seed's shape is caught.
    drifted = [
        {**answer, "total": 7},
        {k: v for k, v in answer.items() if k != "prev"},
        {**answer, "user_info": {**answer["user_info"], "password_hash": "x"}},
        {**answer, "messages": [{**answer["messages"][0], "author_name": None}]},
        {**answer, "messages": answer["messages"] + answer["messages"][:1]},  # 7 on a page
        {**answer, "next": 2},
    ]
    for wrong in drifted:
        assert list(validator.iter_errors(wrong)), wrong


def test_another_user_s_messages_are_a_documented_403(client, rabbit_register, document):
    ann, bob = rabbit_register(), rabbit_register()
    body = {"message": "안녕", "amount": 500, "is_moneybag": False}
    written = client.simulate_post(f"/api/user/{ann.id}/messages", json=body, headers=bob.headers)
    message_id = written.json["id"]

    detail = client.simulate_get(f"/api/user/{ann.id}/messages/{message_id}", headers=bob.headers)
    listing = client.simulate_get(f"/api/user/{ann.id}/messages", headers=bob.headers)
    assert (detail.status_code, detail.json) == (403, {"error": rabbit_messages.DETAIL_FORBIDDEN})
    assert (listing.status_code, listing.json) == (403, {"error": rabbit_messages.LIST_FORBIDDEN})
    for path in ("/api/user/{user_id}/messages", "/api/user/{user_id}/messages/{message_id}"):
        assert "403" in document["paths"][path]["get"]["responses"]


def test_an_undocumented_answer_fails_the_check(app, document, client, rabbit_register):
    """The check sees Money For Rabbit answers: a status or body off the document fails."""
    ann = rabbit_register()
    profile = client.simulate_get(f"/api/user/{ann.id}")
    assert profile.json == {"user_info": {"username": ann.username, "total_amount": 0}}

    def answer(body, status=200):
        text = json.dumps(body)
        return SimpleNamespace(
            status_code=status,
            headers={"content-type": "application/json"},
            content=text.encode(),
            text=text,
            json=body,
        )

    check(app, document, "GET", f"/api/user/{ann.id}", answer(profile.json))
    with pytest.raises(ContractError, match="unlike its schema"):
        check(app, document, "GET", f"/api/user/{ann.id}", answer({**profile.json, "email": "x"}))
    with pytest.raises(ContractError, match="does not list"):
        check(app, document, "GET", f"/api/user/{ann.id}", answer({"error": "?"}, 409))


def test_login_and_refresh_answer_a_token_pair(client, rabbit_register, document):
    ann = rabbit_register()
    refreshed = client.simulate_post("/api/user/refresh", headers=bearer(ann.refresh_token))
    assert refreshed.status_code == 200
    assert set(refreshed.json) == {"access_token", "refresh_token"}
    again = client.simulate_post("/api/user/refresh", headers=bearer(ann.refresh_token))
    assert again.status_code == 401
    tokens = {"$ref": "#/components/schemas/RabbitTokens"}
    for path in ("/api/user/login", "/api/user/refresh"):
        assert document["paths"][path]["post"]["responses"]["200"]["content"] == {
            "application/json": {"schema": tokens}
        }


def test_the_confirmation_link_is_a_documented_redirect(client, document):
    confirm = document["paths"]["/api/confirm-user/{user_id}/{token}"]["get"]["responses"]
    assert "content" not in confirm["303"] and "Location" in confirm["303"]["headers"]
    failed = client.simulate_get("/api/confirm-user/999/not-a-token")
    assert failed.status_code == 303 and failed.headers["location"].endswith("/signup/fail")


def test_pages_and_metrics_are_described_as_what_they_send(client, document):
    page = client.simulate_get("/api/user/password-reset/confirm")
    assert page.headers["content-type"].startswith("text/html")
    reset = document["paths"]["/api/user/password-reset/confirm"]["get"]["responses"]["200"]
    assert reset["content"] == {"text/html": {"schema": {"type": "string"}}}
    scraped = client.simulate_get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_not_ready_is_described_by_its_own_body(document):
    not_ready = answer_schema(document, "/readyz", "get", 503)
    validator = Draft202012Validator(not_ready)
    unreachable = {"status": "unavailable", "checks": {"database": "ok", "broker": "unreachable"}}
    assert not list(validator.iter_errors(unreachable))
    assert list(validator.iter_errors({"error": {"code": "x", "message": "y"}}))
    # It sends no Retry-After; a refusal for a busy database does.
    assert "headers" not in document["paths"]["/readyz"]["get"]["responses"]["503"]
    busy = document["paths"]["/api/user/{user_id}"]["get"]["responses"]["503"]
    assert "Retry-After" in busy["headers"]


def test_the_old_dialect_gaps_are_closed():
    """What Python let through and ECMAScript clients refused, or the other way round."""
    email = re.compile(schemas.EMAIL["pattern"])
    assert not email.search("a@b.c\n") and not email.search("a\x01@b.c")
    assert email.search("a@b.c")
    assert not re.search(rabbit_users.PASSWORD["pattern"], "Rabbitpass1٣!")
    assert not re.search(rabbit_users.PASSWORD["pattern"], "Rabbitpass12!\n")
    assert not re.search(rabbit_users.USERNAME["pattern"], "토끼\n")
    assert not re.search(schemas.HTTP_URL["pattern"], "http://a/b\n")
    message = rabbit_messages.MESSAGE["pattern"]
    assert re.search(message, "😀") and not re.search(message, "\u3000\n")
