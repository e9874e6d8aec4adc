"""CORS on both surfaces: allowed origins get the grant on every answer, errors included.

The app under test allows the origin of RABBIT_FRONTEND_URL (http://frontend.test)
and http://localhost:3000, as CORS_ALLOWED_ORIGINS does by default outside production.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from contract import CheckedClient
from falcon import testing
from fixtures.accounts import RABBIT_PASSWORD, bearer, unique_email

ALLOWED = "http://frontend.test"
STRANGER = "https://evil.example"
MB = 1024 * 1024
PATHS = [
    "/api/v1/auth/login",
    "/api/auth/login",
    "/api/user/login",
    "/api/user/7/messages",
    "/api/v1/no-such-route",
    "/nowhere",
]


def preflight(client, path: str, origin: str, method: str = "POST"):
    return client.simulate_options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


def assert_granted(resp, origin: str = ALLOWED):
    assert resp.headers["access-control-allow-origin"] == origin
    assert "Origin" in [v.strip() for v in resp.headers["vary"].split(",")]
    methods = {m.strip() for m in resp.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in resp.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed
    exposed = {h.strip().lower() for h in resp.headers["access-control-expose-headers"].split(",")}
    assert {"location", "retry-after", "x-request-id"} <= exposed
    assert int(resp.headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in resp.headers  # tokens, not cookies


def assert_not_granted(resp):
    assert not [name for name in resp.headers if name.lower().startswith("access-control-")]
    assert "Origin" in [v.strip() for v in resp.headers["vary"].split(",")]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("origin", [ALLOWED, "http://localhost:3000"])
def test_a_preflight_from_an_allowed_origin_is_granted_on_any_path(client, path, origin):
    resp = preflight(client, path, origin)
    assert resp.status_code == 204
    assert_granted(resp, origin)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "origin", [STRANGER, "http://frontend.test.evil.example", "null", "http://frontend.test:8080"]
)
def test_other_origins_get_no_grant(client, path, origin):
    assert_not_granted(preflight(client, path, origin))
    assert_not_granted(client.simulate_get(path, headers={"Origin": origin}))


def test_a_preflight_may_ask_for_other_request_headers(client):
    """The Money For Rabbit app's retry after a refresh sends a header named "0"."""
    resp = client.simulate_options(
        "/api/user/7/messages",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "0,authorization",
        },
    )
    assert resp.status_code == 204
    allowed = {h.strip().lower() for h in resp.headers["access-control-allow-headers"].split(",")}
    assert {"0", "authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed


@pytest.mark.parametrize("asked", ["x-a\r\nSet-Cookie: a=b", "x-a;b", "x a"])
def test_requested_headers_that_are_not_header_names_are_not_echoed(client, asked):
    resp = client.simulate_options(
        "/api/user/login",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert resp.status_code == 204
    assert "x-a" not in resp.headers["access-control-allow-headers"]
    assert "set-cookie" not in resp.headers


def test_an_options_request_that_is_not_a_preflight_is_routed(client):
    resp = client.simulate_options("/api/user/login", headers={"Origin": ALLOWED})
    assert resp.status_code == 200
    assert "POST" in resp.headers["allow"]
    assert_granted(resp)


def test_without_an_origin_there_is_no_grant(client):
    assert_not_granted(client.simulate_get("/healthz"))


def register_and_log_in(client, confirm_link) -> tuple[int, str]:
    from fixtures.accounts import user_id_of

    body = {"email": unique_email("cors"), "password": RABBIT_PASSWORD, "username": "토끼"}
    assert client.simulate_post("/api/user/register", json=body).status_code == 201
    user_id = user_id_of(body["email"])
    client.simulate_get(confirm_link(user_id))
    return user_id, client.simulate_post("/api/user/login", json=body).json["access_token"]


def test_every_answer_to_an_allowed_origin_carries_the_grant(client, confirm_link, monkeypatch):
    """Successes and errors alike: the apps read `error` from failed answers."""
    origin = {"Origin": ALLOWED}
    user_id, token = register_and_log_in(client, confirm_link)
    other_id, _ = register_and_log_in(client, confirm_link)
    answers = {
        200: client.simulate_get(f"/api/user/{user_id}", headers=origin),
        201: client.simulate_post(
            f"/api/user/{user_id}/messages",
            json={"message": "복", "amount": 100, "is_moneybag": False},
            headers={**origin, **bearer(token)},
        ),
        400: client.simulate_post("/api/user/login", body=b"{", headers=origin),
        401: client.simulate_get("/api/v1/users/me", headers=origin),
        403: client.simulate_put(
            f"/api/user/{other_id}",
            json={"username": "남이름"},
            headers={**origin, **bearer(token)},
        ),
        404: client.simulate_get("/api/v1/no-such-route", headers=origin),
        405: client.simulate_delete("/api/user/login", headers=origin),
        413: client.simulate_post(
            "/api/v1/auth/login", body=json.dumps({"email": "a" * MB}).encode(), headers=origin
        ),
    }
    from models import users

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(users, "authenticate", crash)
    # Unchecked: a crash is the one answer no OpenAPI document lists.
    answers[500] = testing.TestClient(client.app).simulate_post(
        "/api/v1/auth/login", json={"email": "a@example.com", "password": "x"}, headers=origin
    )
    for status, resp in answers.items():
        assert resp.status_code == status, (status, resp.text)
        assert "error" in resp.json or status < 400
        assert_granted(resp)


def test_a_429_carries_the_grant_and_exposes_retry_after(config, app):
    from conftest import RUN_ID

    strict = dataclasses.replace(
        config, rate_limit_login="1/minute", rate_limit_prefix=f"rl-cors-{RUN_ID}"
    )
    from api.app import create_app

    client = CheckedClient(create_app(strict))
    body = {"email": unique_email(), "password": "wrong"}
    for path in ("/api/v1/auth/login", "/api/user/login"):
        client.simulate_post(path, json=body, headers={"Origin": ALLOWED})
        limited = client.simulate_post(path, json=body, headers={"Origin": ALLOWED})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert_granted(limited)


def test_the_allowed_origins_come_from_the_setting(config):
    from api.app import create_app

    client = CheckedClient(
        create_app(
            dataclasses.replace(config, cors_allowed_origins=("https://app.zellyy.example",))
        )
    )
    assert_granted(
        preflight(client, "/api/v1/cards", "https://app.zellyy.example"),
        "https://app.zellyy.example",
    )
    assert_not_granted(preflight(client, "/api/v1/cards", ALLOWED))
